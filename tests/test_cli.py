"""`curate --help` and every `curate VERB --help` work and explain; expected errors print no traceback."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from curate import cli
from tests.conftest import REPO


def test_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: curate")
    for verb in cli.VERBS:
        assert verb in out


def test_no_verb_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "verbs:" in capsys.readouterr().out


@pytest.mark.parametrize("verb", sorted(cli.VERBS))
def test_verb_help(capsys: pytest.CaptureFixture[str], verb: str) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([verb, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: curate {verb}")
    module = importlib.import_module(f"curate.commands.{cli.VERBS[verb][0]}")
    assert module.__doc__, f"curate.commands.{verb} needs a module docstring"
    first_line = module.__doc__.strip().splitlines()[0]
    assert first_line in out


@pytest.mark.parametrize("verb", sorted(cli.VERBS))
def test_verb_modules_follow_the_convention(verb: str) -> None:
    module = importlib.import_module(f"curate.commands.{cli.VERBS[verb][0]}")
    assert callable(module.add_arguments)
    assert callable(module.run)


def test_unknown_verb(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_as_a_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "curate", "-C", str(REPO), "check", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    proc = subprocess.run(
        [sys.executable, "-m", "curate", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("curate ")
