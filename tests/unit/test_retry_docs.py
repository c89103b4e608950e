"""The documented retry waits are the ones the defaults give: 3 attempts wait 5 s and 10 s."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/SENDER.md", "docs/API.md")


def waits(settings: Settings) -> list[int]:
    base, attempts = settings.retry_base_seconds, settings.max_attempts
    return [int(base * 2 ** n) for n in range(attempts - 1)]


def test_the_defaults_wait_5_and_10_seconds() -> None:
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    assert waits(Settings.model_construct(**defaults)) == [5, 10]


@pytest.mark.parametrize("doc", DOCS)
def test_no_doc_promises_a_third_wait(doc: str) -> None:
    text = (ROOT / doc).read_text()
    assert "5, 10, 20" not in text and "20 s" not in text.replace("120 s", "")
    if doc != "docs/SENDER.md":
        assert "5 s" in text and "10 s" in text
