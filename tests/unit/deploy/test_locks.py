"""The lock files agree with pyproject.toml and with each other, pin every package with its
hashes, and are the only source that `make install` (so CI) installs from."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.unit.deploy.locks import entries, normalise, pins
from tests.unit.deploy.manifests import ROOT

pytestmark = pytest.mark.unit

REQUIREMENTS = ROOT / "requirements"
LOCKS = ("build.txt", "dev.txt", "prod.txt")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MAKEFILE = (ROOT / "Makefile").read_text()


def exact_pins(requirements: list[str]) -> dict[str, str]:
    found = {}
    for requirement in requirements:
        name, _, version = requirement.split(";")[0].partition("==")
        assert version, f"{requirement} is not pinned with =="
        found[normalise(re.sub(r"\[.*\]", "", name).strip())] = version.strip()
    return found


def make_recipe(target: str) -> list[str]:
    """The recipe lines of a Makefile rule whose target starts with ``target``."""
    lines = MAKEFILE.splitlines()
    (start,) = [n for n, line in enumerate(lines) if line.startswith(target)]
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


@pytest.mark.parametrize("lock", LOCKS)
def test_every_package_is_pinned_with_a_hash(lock: str) -> None:
    found = entries(REQUIREMENTS / lock)
    assert found
    for name, (_, hashes) in found.items():
        assert hashes, f"{lock}: {name} has no --hash"


def test_a_lock_without_hashes_is_caught(tmp_path: Path) -> None:
    unhashed = tmp_path / "lock.txt"
    unhashed.write_text("aiohttp==3.14.5\n    # via relay\n")
    assert entries(unhashed) == {"aiohttp": ("3.14.5", [])}
    unhashed.write_text("aiohttp>=3\n")
    with pytest.raises(ValueError, match="not a pinned requirement"):
        entries(unhashed)


def test_the_dev_lock_has_every_pin_of_pyproject_and_build_in() -> None:
    development = pins(REQUIREMENTS / "dev.txt")
    project = PYPROJECT["project"]
    wanted = exact_pins(project["dependencies"])
    for extra in ("embedded", "test"):
        wanted |= exact_pins(project["optional-dependencies"][extra])
    build_in = [line for line in (REQUIREMENTS / "build.in").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    wanted |= exact_pins(build_in)
    assert {name: development.get(name) for name in wanted} == wanted


@pytest.mark.parametrize("lock", ["prod.txt", "build.txt"])
def test_the_other_locks_are_the_dev_lock_s_versions(lock: str) -> None:
    """One resolution: the image and the build run the versions that the tests ran."""
    development = entries(REQUIREMENTS / "dev.txt")
    for name, (version, hashes) in entries(REQUIREMENTS / lock).items():
        assert development[name][0] == version, name
        assert set(hashes) <= set(development[name][1]), name


class TestMakeInstallUsesTheLockOnly:
    def test_the_install_recipe_installs_hashed_locks_and_nothing_resolved(self) -> None:
        installs = [line for line in make_recipe("$(STAMP):") if "pip install" in line]
        assert installs, "no pip install in the install recipe"
        for line in installs:
            assert "--no-deps" in line, line
            if " -r " in line:
                assert "--require-hashes" in line, line
            else:
                assert "-e . -e services/simulator" in line and "--no-build-isolation" in line
        locks = [lock for line in installs for lock in re.findall(r"-r (\S+)", line)]
        assert locks == ["requirements/build.txt", "requirements/dev.txt"]

    def test_the_install_stamp_depends_on_the_locks(self) -> None:
        assert re.search(r"^LOCKS\s*:=\s*requirements/build.txt requirements/dev.txt$",
                         MAKEFILE, flags=re.MULTILINE)
        inputs = re.search(r"^STAMP_INPUTS\s*:=(.*)$", MAKEFILE, flags=re.MULTILINE)
        assert inputs and "$(LOCKS)" in inputs[1] and "pyproject.toml" in inputs[1]
        assert re.search(r"^\$\(STAMP\): \$\(STAMP_INPUTS\)$", MAKEFILE, flags=re.MULTILINE)
        assert "$(shell cat $(STAMP_INPUTS) | sha1sum" in MAKEFILE

    def test_make_lock_writes_every_lock(self) -> None:
        recipe = " ".join(make_recipe("lock:"))
        for lock in LOCKS:
            assert f"-o requirements/{lock}" in recipe
        assert "--generate-hashes" in MAKEFILE
