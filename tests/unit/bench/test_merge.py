"""``--merge``: re-running some figures keeps the others of the last run."""

from __future__ import annotations

import pytest

from bench.__main__ import _carried_memory, _merged

pytestmark = pytest.mark.unit


def _figure(name: str, note: str) -> dict[str, object]:
    return {"name": name, "title": name, "setup": "", "rows": [], "notes": [note], "error": None}


class TestMerge:
    """Re-run figures replace their old selves in the usual order; memory phases that are not
    measured again are carried over."""

    def test_replaces_rerun_figures_in_order(self) -> None:
        previous = {"machine": {"date": "d1"}, "quick": False, "elapsed": 100.0, "memory": {},
                    "figures": [_figure("accept", "old"), _figure("fairness", "broken")]}
        current = {"machine": {"date": "d2"}, "quick": False, "elapsed": 50.0, "memory": {},
                   "figures": [_figure("fairness", "new"), _figure("reads", "new")]}
        merged = _merged(previous, current, ["fairness", "reads"])
        assert [f["name"] for f in merged["figures"]] == ["accept", "fairness", "reads"]
        assert merged["figures"][0]["notes"] == ["old"]
        assert merged["figures"][1]["notes"][0] == "new"
        assert "re-run on d2" in merged["figures"][1]["notes"][1]
        assert merged["elapsed"] == 150.0

    def test_carries_memory_phases_not_measured_again(self) -> None:
        previous = {"memory": {"idle": {"a": [1.0]}, "load": {"a": [2.0]},
                               "backlog": {"sender": [3.0]}}}
        assert _carried_memory(previous, ["fairness", "memory"]) == {"load": {"a": [2.0]}}
        assert _carried_memory(None, ["memory"]) == {}
