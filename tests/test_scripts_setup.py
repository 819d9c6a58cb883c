"""scripts/_venv.sh and scripts/_tools.sh, sourced as ./scripts/test and ./scripts/example do, in
a copy of scripts/ and pyproject.toml: what they print on stderr when they create or refresh a
virtual environment, and how they take PYTHON. MANGUM_LIKE_SETUP_PIP stands a logging stub in for
pip, so nothing is downloaded and the repository's own .venv is never touched."""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
# The interpreter behind the one running the tests (which may be a venv's): what a venv made by
# either runs.
BASE = os.path.realpath(getattr(sys, "_base_executable", "") or sys.executable)
SETUP = f"setting up .venv with Python {VERSION} (first run, about a minute)"
INSTALLS = [".venv --upgrade pip", ".venv -e .[dev]"]
# Stands in for pip: notes each call in pip-stub.log, installs nothing.
PIP_STUB = '#!/bin/sh\necho "$*" >>"$0.log"\n'


@dataclass
class Interpreter:
    path: str
    version: tuple[int, int]
    real: str

    @property
    def major_minor(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"


@functools.cache
def interpreters() -> list[Interpreter]:
    """The Pythons on this machine, one per executable, from the usual places."""
    found = [
        *glob.glob("/usr/bin/python3.*"),
        *glob.glob("/usr/local/bin/python3.*"),
        *glob.glob("/opt/homebrew/bin/python3.*"),
        *glob.glob(os.path.expanduser("~/.pyenv/versions/*/bin/python3")),
        *(shutil.which(f"python3.{minor}") or "" for minor in range(6, 16)),
    ]
    result: list[Interpreter] = []
    for path in found:
        if not path or path.endswith("-config") or not os.access(path, os.X_OK):
            continue
        probe = subprocess.run(
            [
                path,
                "-c",
                "import os, sys; print(sys.version_info[0], sys.version_info[1]);"
                "print(os.path.realpath(getattr(sys, '_base_executable', '') or sys.executable))",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if probe.returncode != 0:
            continue  # e.g. a pyenv shim of a version that is not selected
        numbers, real = probe.stdout.splitlines()
        major, minor = (int(number) for number in numbers.split())
        if all(other.real != real for other in result):
            result.append(Interpreter(path, (major, minor), real))
    return result


@dataclass
class Checkout:
    """A copy of the repository layout that the setup scripts work on, and a stub pip."""

    root: Path
    elsewhere: Path
    bin: Path
    pip: Path

    def run(
        self, python: str | None = None, *, tools: bool = False, pip: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Source _venv.sh (and _tools.sh) by a relative path from another directory, then print
        the directory the scripts are left in. PYTHON is set only if `python` is given."""
        env = {key: value for key, value in os.environ.items() if key != "PYTHON"}
        # `python3` with PYTHON unset: the interpreter behind the tests' own.
        env["PATH"] = f"{self.bin}{os.pathsep}{env['PATH']}"
        env["MANGUM_LIKE_SETUP_PIP"] = str(pip or self.pip)
        if python is not None:
            env["PYTHON"] = python
        script = 'EXTRAS=dev source "$1/_venv.sh"\n'
        if tools:
            script += "source scripts/_tools.sh\n"
        script += "pwd\n"
        relative = os.path.relpath(self.root / "scripts", self.elsewhere)
        return subprocess.run(
            ["bash", "-c", script, "bash", relative],
            cwd=self.elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def installs(self) -> list[str]:
        log = Path(f"{self.pip}.log")
        return log.read_text().splitlines() if log.exists() else []

    def venv_version(self) -> str:
        for line in (self.root / ".venv" / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "version":
                return ".".join(value.strip().split(".")[:2])
        raise AssertionError(".venv/pyvenv.cfg has no version")


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    root = tmp_path / "checkout"
    shutil.copytree(ROOT / "scripts", root / "scripts")
    shutil.copy(ROOT / "pyproject.toml", root)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(BASE)
    return Checkout(root, elsewhere, bin_dir, stub(tmp_path / "pip-stub", PIP_STUB))


def stub(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_first_run_says_it_sets_up_the_venv(checkout: Checkout) -> None:
    done = checkout.run()
    assert (done.returncode, done.stderr) == (0, f"{SETUP}\n")
    assert done.stdout == f"{checkout.root}\n"
    assert (checkout.root / ".venv" / "bin" / "python").exists()
    assert checkout.venv_version() == VERSION
    assert checkout.installs() == INSTALLS


def test_a_run_with_nothing_to_install_prints_nothing(checkout: Checkout) -> None:
    checkout.run()
    done = checkout.run()
    assert (done.returncode, done.stderr) == (0, "")
    assert checkout.installs() == INSTALLS


def test_a_changed_pyproject_reinstalls_and_says_so(checkout: Checkout) -> None:
    checkout.run()
    with (checkout.root / "pyproject.toml").open("a") as pyproject:
        pyproject.write("# changed\n")
    done = checkout.run()
    assert (done.returncode, done.stderr) == (0, "updating .venv: pyproject.toml changed\n")
    assert checkout.installs() == INSTALLS * 2
    assert checkout.run().stderr == ""


def test_an_interrupted_install_is_finished_on_the_next_run(
    checkout: Checkout, tmp_path: Path
) -> None:
    failing = stub(tmp_path / "pip-fails", "#!/bin/sh\nexit 3\n")
    done = checkout.run(pip=failing)
    assert (done.returncode, done.stderr, done.stdout) == (3, f"{SETUP}\n", "")
    done = checkout.run()
    assert (done.returncode, done.stderr) == (
        0,
        "finishing .venv: its last setup did not complete\n",
    )
    assert checkout.installs() == INSTALLS


def test_a_venv_without_its_interpreter_is_recreated(checkout: Checkout) -> None:
    (checkout.root / ".venv").mkdir()
    done = checkout.run()
    assert (done.returncode, done.stderr) == (
        0,
        f"recreating .venv with Python {VERSION} (.venv/bin/python is missing; about a minute)\n",
    )
    assert checkout.installs() == INSTALLS


def test_a_chosen_python_of_another_version_recreates_the_venv(checkout: Checkout) -> None:
    others = [found for found in interpreters() if found.version >= (3, 10)]
    other = next((found for found in others if found.major_minor != VERSION), None)
    if other is None:
        pytest.skip(f"no Python 3.10+ other than {VERSION} on this machine")
    assert checkout.run(BASE).stderr == f"{SETUP}\n"
    done = checkout.run(other.path)
    assert (done.returncode, done.stderr) == (
        0,
        f"recreating .venv with Python {other.major_minor} (it was made with Python {VERSION})\n",
    )
    assert checkout.venv_version() == other.major_minor
    assert checkout.installs() == INSTALLS * 2
    assert checkout.run(other.path).stderr == ""
    # With PYTHON unset the .venv made by the other interpreter stays.
    assert checkout.run().stderr == ""
    assert checkout.venv_version() == other.major_minor


def test_a_chosen_python_elsewhere_recreates_the_venv(checkout: Checkout) -> None:
    other = next(
        (found for found in interpreters() if found.major_minor == VERSION and found.real != BASE),
        None,
    )
    if other is None:
        pytest.skip(f"no second Python {VERSION} executable on this machine")
    checkout.run(BASE)
    done = checkout.run(other.path)
    assert (done.returncode, done.stderr) == (
        0,
        f"recreating .venv with {other.real} (it was made with {BASE})\n",
    )
    assert checkout.run(other.path).stderr == ""


def test_a_chosen_python_that_made_the_venv_keeps_it(checkout: Checkout) -> None:
    checkout.run(BASE)
    # The tests' interpreter, whether BASE itself or a venv's python in front of it.
    done = checkout.run(sys.executable)
    assert (done.returncode, done.stderr) == (0, "")
    assert checkout.installs() == INSTALLS


@pytest.mark.parametrize("python", ["python3.99", "/nowhere/python3"])
def test_a_missing_python_is_named(checkout: Checkout, python: str) -> None:
    done = checkout.run(python)
    assert (done.returncode, done.stderr, done.stdout) == (1, f"PYTHON={python}: not found\n", "")
    assert not (checkout.root / ".venv").exists()


def test_a_python_that_cannot_be_run_is_not_found(checkout: Checkout, tmp_path: Path) -> None:
    # What a pyenv shim does for a version installed but not selected.
    shim = stub(
        tmp_path / "python3.9", "#!/bin/sh\necho 'python3.9: command not found' >&2\nexit 127\n"
    )
    done = checkout.run(str(shim))
    assert (done.returncode, done.stderr) == (
        1,
        f"python3.9: command not found\nPYTHON={shim}: not found\n",
    )


def test_an_old_python_is_refused(checkout: Checkout) -> None:
    old = next((found for found in interpreters() if found.version < (3, 10)), None)
    if old is None:
        pytest.skip("no Python older than 3.10 on this machine")
    done = checkout.run(old.path)
    assert (done.returncode, done.stderr) == (
        1,
        "mangum_like needs Python 3.10 or newer; set PYTHON=python3.X\n",
    )
    assert not (checkout.root / ".venv").exists()


def test_the_tools_venv_says_what_it_installs(checkout: Checkout) -> None:
    done = checkout.run(tools=True)
    tools_setup = (
        f"setting up .venv-tools (SAM CLI, cfn-lint) with Python {VERSION}"
        " (first run, a few minutes)"
    )
    assert (done.returncode, done.stderr) == (0, f"{SETUP}\n{tools_setup}\n")
    tools_installs = [".venv-tools --upgrade pip", ".venv-tools -r scripts/tools-requirements.txt"]
    assert checkout.installs() == INSTALLS + tools_installs
    assert checkout.run(tools=True).stderr == ""
    with (checkout.root / "scripts" / "tools-requirements.txt").open("a") as requirements:
        requirements.write("# changed\n")
    done = checkout.run(tools=True)
    assert (done.returncode, done.stderr) == (
        0,
        "updating .venv-tools: scripts/tools-requirements.txt changed\n",
    )
    assert checkout.installs() == INSTALLS + tools_installs * 2
