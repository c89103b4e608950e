"""The Dependabot configuration and the workflows validate against their (vendored) schemas,
and Dependabot watches every kind of pin Relay has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.unit.deploy.manifests import ROOT

pytestmark = pytest.mark.unit

SCHEMAS = ROOT / "tests" / "data" / "schemas"
DEPENDABOT = ROOT / ".github" / "dependabot.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def errors(document: Any, schema_file: str) -> list[str]:
    schema = json.loads((SCHEMAS / schema_file).read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_dependabot_validates() -> None:
    assert errors(yaml.safe_load(DEPENDABOT.read_text()), "dependabot.json") == []


def test_a_broken_dependabot_file_is_refused() -> None:
    config = yaml.safe_load(DEPENDABOT.read_text())
    config["updates"][0]["package-ecosystem"] = "pipx"
    assert errors(config, "dependabot.json")


def test_dependabot_watches_python_the_dockerfile_and_compose() -> None:
    ecosystems = {u["package-ecosystem"] for u in yaml.safe_load(DEPENDABOT.read_text())["updates"]}
    assert {"pip", "docker", "docker-compose"} <= ecosystems


def workflow_document(path: Path) -> dict[Any, Any]:
    """A workflow as GitHub reads it (PyYAML reads the bare key `on` as True)."""
    loaded = yaml.safe_load(path.read_text())
    return {("on" if key is True else key): value for key, value in loaded.items()}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: Path(p).name)
def test_workflow_validates(workflow: Path) -> None:
    assert errors(workflow_document(workflow), "github-workflows.json") == []


def test_a_broken_workflow_is_refused() -> None:
    document = workflow_document(WORKFLOWS[0])
    del document["jobs"]
    assert errors(document, "github-workflows.json")


def test_the_lock_workflow_remakes_and_compares_the_locks() -> None:
    steps = yaml.safe_load((ROOT / ".github/workflows/lock.yml").read_text())["jobs"]
    runs = [s.get("run") for job in steps.values() for s in job["steps"]]
    assert "make lock" in runs and "git diff --exit-code requirements/" in runs
