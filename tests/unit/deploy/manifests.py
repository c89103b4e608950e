"""Render the kustomize overlays and look objects up in them, for the deploy tests.

Rendering uses a real kustomize: the standalone ``kustomize`` binary if one is on PATH, else
``kubectl kustomize`` (kubectl embeds kustomize; this machine's image ships kubectl). Nothing
is reimplemented here, so what the tests check is what ``kubectl apply -k`` would send.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATIONS = ("base", "overlays/dev", "overlays/prod", "overlays/prod-tls")
OVERLAYS = ("overlays/dev", "overlays/prod", "overlays/prod-tls")
EXAMPLES = (K8S / "base" / "secret.example.yaml",
            K8S / "components" / "backend-tls" / "secrets.example.yaml")
CRD_SCHEMAS = Path(__file__).parent / "crd_schemas"
SERVICES = {"gateway": 8080, "ingest": 8081, "stats": 8082, "sender": 8083}

Obj = dict[str, Any]


def kustomize_command() -> list[str]:
    """The command that builds a kustomization directory (the directory is appended)."""
    if path := shutil.which("kustomize"):
        return [path, "build"]
    if path := shutil.which("kubectl"):
        return [path, "kustomize"]
    raise RuntimeError(
        "neither `kustomize` nor `kubectl` is on PATH: install kubectl (it embeds kustomize)"
    )


Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def _rendered(directory: str) -> tuple[Obj, ...]:
    result = subprocess.run(
        [*kustomize_command(), str(K8S / directory)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kustomize build {directory} failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.load_all(result.stdout, Loader=Loader) if doc)


def render(directory: str) -> list[Obj]:
    """Every object ``kustomize build deploy/k8s/<directory>`` produces (a fresh copy)."""
    return copy.deepcopy(list(_rendered(directory)))


def load_file(path: Path) -> list[Obj]:
    """The YAML documents of one manifest file."""
    return [doc for doc in yaml.load_all(path.read_text(), Loader=Loader) if doc]


def of_kind(objects: Iterable[Obj], kind: str) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: Iterable[Obj], kind: str, name: str) -> Obj:
    """The one object of ``kind`` called ``name``."""
    found = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def containers(deployment: Obj) -> list[Obj]:
    spec = deployment["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def pod_labels(objects: Iterable[Obj]) -> Iterator[tuple[str, dict[str, str]]]:
    """(workload name, pod template labels) for every Deployment."""
    for deployment in of_kind(objects, "Deployment"):
        yield deployment["metadata"]["name"], deployment["spec"]["template"]["metadata"]["labels"]


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) selects ``labels``."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not ok:
            return False
    return True


@cache
def crd_schema(kind: str) -> Obj:
    """The hand-written JSON Schema of an operator's custom resource."""
    schema: Obj = json.loads((CRD_SCHEMAS / f"{kind.lower()}.json").read_text())
    return schema


def is_custom(obj: Obj) -> bool:
    """Whether ``obj`` is an operator's custom resource (validated by a schema of ours)."""
    return (CRD_SCHEMAS / f"{obj['kind'].lower()}.json").exists()
