"""docs/METRICS.md lists exactly the metrics the services define, each with its labels."""

from __future__ import annotations

import re

import pytest

from tests.unit.test_dashboard import ROOT, defined_metrics

pytestmark = pytest.mark.unit

DOC = ROOT / "docs" / "METRICS.md"


def documented() -> dict[str, str]:
    """Metric name -> its table row, for every row whose first cell is a metric."""
    rows = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"\|\s*`(relay_[a-z0-9_]+)`\s*\|", line)
        if match:
            rows[match.group(1)] = line
    return rows


class TestMetricsDoc:
    """Every metric is documented with its type and labels; nothing documented is made up."""

    def test_every_defined_metric_is_documented(self) -> None:
        missing = set(defined_metrics()) - set(documented())
        assert not missing, f"add to docs/METRICS.md: {sorted(missing)}"

    def test_every_documented_metric_exists(self) -> None:
        extra = set(documented()) - set(defined_metrics())
        assert not extra, f"not defined in any metrics.py: {sorted(extra)}"

    def test_rows_name_the_type_and_every_label(self) -> None:
        rows = documented()
        for name, (kind, labels) in defined_metrics().items():
            cells = [c.strip() for c in rows[name].split("|")[1:-1]]
            assert cells[1] == kind.lower(), (name, cells[1])
            for label in labels:
                assert f"`{label}`" in cells[2], (name, label)
