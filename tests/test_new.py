"""curate new: flags or prompts in, a valid hand-written-looking request out, never an overwrite."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from curate import cli
from curate.authoring import RequestFields
from curate.checking import check_files
from curate.commands import new
from curate.errors import CurateError, UsageError, ValidationError
from tests.conftest import REPO

JUST = "The finance team reads Excel exports with pandas every day."
TODAY = dt.date.today().isoformat()
ENV: dict[str, str] = {}  # no GIT_AUTHOR_EMAIL or EMAIL: --requested-by is given or asked for


def new_request(
    root: Path,
    packages: list[str],
    *,
    env: Mapping[str, str],
    ask: Callable[[str], str] | None = None,
    **fields: Any,
) -> Path | None:
    return new.new_request(RequestFields(**fields), packages, ask, root=root, env=env)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "config.yaml").write_text((REPO / "catalog" / "config.yaml").read_text("utf-8"))
    (tmp_path / "requests").mkdir()
    (tmp_path / "scripts" / "curate" / "data").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return tmp_path


def test_from_flags(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["new", "--package", "pandas>=2.2", "-p", "numpy", "-p", "uvicorn[standard] ~=0.30", "--title"]
    argv += ["Pandas for the finance team", "--justification", JUST, "--requested-by", "fin@example.com"]
    argv += ["--platform", "linux,macos", "--python", "3.12", "--compliance", "soc2", "--compliance", "pii"]
    assert cli.main(argv) == 0
    path = root / "requests" / f"{TODAY}-pandas-for-the-finance-team.yaml"
    assert capsys.readouterr().out == (
        f"wrote requests/{path.name}; check it with: curate check requests/{path.name}\n"
    )
    assert path.read_text("utf-8") == (
        "# yaml-language-server: $schema=../scripts/curate/data/request.schema.json\n"
        "title: Pandas for the finance team\n"
        "requested_by: fin@example.com\n"
        f"justification: {JUST}\n"
        "platforms: [linux, macos]\n"
        'python: ["3.12"]\n'
        "compliance: [soc2, pii]\n"
        "packages:\n"
        "  - name: pandas\n"
        '    version: ">=2.2"\n'
        "  - name: numpy\n"
        "  - name: uvicorn[standard]\n"
        '    version: "~=0.30"\n'
    )
    assert check_files(root, [path]).problems == []
    assert cli.main(["check", f"requests/{path.name}"]) == 0


def test_defaults_from_config_and_git(root: Path) -> None:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "config", "user.email", "me@example.com"], check=True)
    path = new_request(
        env={k: v for k, v in os.environ.items() if k not in ("GIT_AUTHOR_EMAIL", "EMAIL")},
        root=root,
        packages=["httpx"],
        title="HTTP client",
        justification=JUST,
        slug="http",
        date="2026-11-21",
    )
    assert path == root / "requests" / "2026-11-21-http.yaml"
    text = path.read_text("utf-8")
    assert "requested_by: me@example.com\n" in text
    assert 'platforms: [linux, windows]\npython: ["3.11", "3.12"]\n' in text
    assert "compliance" not in text


def test_never_overwrites(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = root / "requests" / "2026-11-21-http.yaml"
    path.write_text("mine\n")
    argv = [
        "new",
        "-p",
        "httpx",
        "--title",
        "HTTP",
        "--justification",
        JUST,
        "--requested-by",
        "a@example.com",
    ]
    assert cli.main([*argv, "--slug", "http", "--date", "2026-11-21"]) == 1
    assert capsys.readouterr().err == (
        "error: requests/2026-11-21-http.yaml already exists; a request is never overwritten "
        "(choose another name with --slug or -o)\n"
    )
    assert path.read_text() == "mine\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["2026-11-21-http.yaml"]


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("--title", "error: --title is required (stdin is not a terminal, so curate new cannot ask)\n"),
        (
            "--justification",
            "error: --justification is required (stdin is not a terminal, so curate new cannot ask)\n",
        ),
        (
            "--requested-by",
            "error: --requested-by is required (stdin is not a terminal, so curate new cannot ask)\n",
        ),
        ("--package", "error: --package is required at least once, e.g. --package 'pandas>=2.2'\n"),
    ],
)
def test_missing_values_without_terminal(
    root: Path, capsys: pytest.CaptureFixture[str], missing: str, message: str
) -> None:
    flags = {
        "--title": "HTTP",
        "--justification": JUST,
        "--requested-by": "a@example.com",
        "--package": "httpx",
    }
    del flags[missing]
    argv = ["new", *(x for kv in flags.items() for x in kv)]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == message
    assert list((root / "requests").iterdir()) == []


def test_refuses_an_invalid_request(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["new", "-p", "cv2", "-p", "numpy 1.2.3", "-p", "flask; python_version<'3.12'", "--title", "x"]
    argv += [
        "--justification",
        "tbd",
        "--requested-by",
        "a@example.com",
        "--date",
        "2026-11-21",
    ]
    assert cli.main(argv) == 1
    assert capsys.readouterr().err == (
        "not writing requests/2026-11-21-x.yaml: the request would not pass curate check\n"
        "requests/2026-11-21-x.yaml:4:1: justification 'tbd' is a placeholder\n"
        "    hint: say what the packages are for and why the catalog should carry them\n"
        "requests/2026-11-21-x.yaml:8:5: 'cv2' is the import name; the distribution is 'opencv-python'\n"
        "    hint: write name: opencv-python\n"
        "requests/2026-11-21-x.yaml:10:5: '1.2.3' is a bare version, not a specifier\n"
        "    hint: write '==1.2.3' to pin it, or '>=1.2.3' for a minimum\n"
        "requests/2026-11-21-x.yaml:12:5: environment markers are not allowed: '; python_version<'3.12''\n"
        "    hint: OS and Python belong in 'platforms' and 'python' (the request's or the package's)\n"
        "4 problem(s) found\n"
    )
    assert list((root / "requests").iterdir()) == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--platform", "linux,solaris"],
            "error: --platform solaris: unknown platform; choose from: linux, windows, macos\n",
        ),
        (
            ["--platform", "Linux", "--platform", "wndows"],
            "error: --platform wndows: unknown platform; did you mean 'windows'?\n",
        ),
        (
            ["--python", "3.12,3.9"],
            "error: --python 3.9: not supported by this catalog (supported: 3.10, 3.11, 3.12, 3.13)\n",
        ),
    ],
)
def test_bad_targets(root: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str) -> None:
    argv = [
        "new",
        "-p",
        "httpx",
        "--title",
        "HTTP",
        "--justification",
        JUST,
        "--requested-by",
        "a@example.com",
    ]
    assert cli.main([*argv, *flags]) == 2
    assert capsys.readouterr().err == message
    assert list((root / "requests").iterdir()) == []


def test_platform_aliases_and_order(root: Path) -> None:
    argv = [
        "new",
        "-p",
        "httpx",
        "--title",
        "HTTP",
        "--justification",
        JUST,
        "--requested-by",
        "a@example.com",
    ]
    assert cli.main([*argv, "--platform", "darwin,WIN", "--platform", "linux", "--date", "2026-11-21"]) == 0
    assert "platforms: [linux, windows, macos]\n" in (root / "requests" / "2026-11-21-http.yaml").read_text()


def test_to_standard_output(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """-o - prints the request and nothing else on stdout: it can be piped into a file."""
    argv = [
        "new",
        "-p",
        "httpx",
        "--title",
        "HTTP",
        "--justification",
        JUST,
        "--requested-by",
        "a@example.com",
    ]
    assert cli.main([*argv, "-o", "-"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("# yaml-language-server: $schema=../scripts/curate/data/request.schema.json\n")
    assert out.endswith("packages:\n  - name: httpx\n")
    assert err == "wrote the request to standard output; check it once saved with: curate check FILE\n"
    assert list((root / "requests").iterdir()) == []


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("Bad_Slug", "error: --slug 'Bad_Slug' must match [a-z0-9-]+ (lower-case letters, digits and '-')\n"),
        ("", "error: --slug '' must match [a-z0-9-]+ (lower-case letters, digits and '-')\n"),
    ],
)
def test_bad_slug(root: Path, capsys: pytest.CaptureFixture[str], slug: str, message: str) -> None:
    argv = [
        "new",
        "-p",
        "httpx",
        "--title",
        "HTTP",
        "--justification",
        JUST,
        "--requested-by",
        "a@example.com",
    ]
    assert cli.main([*argv, "--slug", slug]) == 2
    assert capsys.readouterr().err == message


def test_output_path_and_schema_line(root: Path) -> None:
    out = root / "elsewhere" / "deep" / "2026-11-21-x.yaml"
    path = new_request(
        env=ENV,
        root=root,
        packages=["httpx"],
        title="HTTP",
        justification=JUST,
        requested_by="a@example.com",
        output=out,
    )
    assert path == out
    assert path.read_text().splitlines()[0] == (
        "# yaml-language-server: $schema=../../scripts/curate/data/request.schema.json"
    )


def test_output_must_still_be_a_request_name(root: Path) -> None:
    with pytest.raises(ValidationError) as info:
        new_request(
            env=ENV,
            root=root,
            packages=["httpx"],
            title="HTTP",
            justification=JUST,
            requested_by="a@example.com",
            output=root / "requests" / "notes.yaml",
        )
    assert [p.message for p in info.value.problems] == ["file name 'notes.yaml' is not YYYY-MM-DD-slug.yaml"]


def test_stdout(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new_request(
        env=ENV,
        root=root,
        packages=["httpx>=0.27"],
        title="HTTP",
        justification=JUST,
        requested_by="a@example.com",
        output=Path("-"),
    )
    out = capsys.readouterr().out
    assert out.startswith(
        "# yaml-language-server: $schema=../scripts/curate/data/request.schema.json\ntitle: HTTP\n"
    )
    assert list((root / "requests").iterdir()) == []


def test_multiline_justification_is_a_literal_block(root: Path) -> None:
    path = new_request(
        env=ENV,
        root=root,
        packages=["httpx"],
        title="HTTP",
        justification="First line of the reason.\nSecond line: who uses it.",
        requested_by="a@example.com",
        date="2026-11-21",
    )
    assert path is not None
    assert "justification: |\n  First line of the reason.\n  Second line: who uses it.\n" in path.read_text()
    assert check_files(root, [path]).problems == []


def test_prompts_for_what_is_missing(root: Path) -> None:
    answers = iter(
        [
            "ML stack",  # title
            "ml@example.com",  # requested by
            "",  # justification: empty is asked again
            JUST,
            "torch>=2.4",  # packages
            "numpy",
            "",
            "linux",  # platforms
            "",  # python: take the default
        ]
    )
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    path = new_request(
        env=ENV,
        root=root,
        packages=[],
        title=None,
        justification=None,
        requested_by=None,
        ask=ask,
        date="2026-11-21",
    )
    assert prompts == [
        "Title (what is the request for?): ",
        "Requested by (e-mail or team): ",
        "Justification (what the packages are for, who uses them): ",
        "Justification (what the packages are for, who uses them): ",
        "  package: ",
        "  package: ",
        "  package: ",
        "Platforms [linux, windows]: ",
        "Python versions [3.11, 3.12]: ",
    ]
    assert path is not None
    assert path.name == "2026-11-21-ml-stack.yaml"
    text = path.read_text()
    assert "platforms: [linux]\npython: [" in text
    assert '  - name: torch\n    version: ">=2.4"\n  - name: numpy\n' in text


def test_terminal_uses_prompts(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    answers = iter(["", ""])  # platforms and python: the defaults
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    argv = [
        "new",
        "-p",
        "httpx",
        "--title",
        "HTTP",
        "--justification",
        JUST,
        "--requested-by",
        "a@example.com",
    ]
    assert cli.main([*argv, "--date", "2026-11-21"]) == 0
    assert (root / "requests" / "2026-11-21-http.yaml").exists()


def test_errors_are_curate_errors() -> None:
    assert issubclass(UsageError, CurateError)


def test_terminal_asks_again_for_what_is_wrong(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On a terminal an invalid answer is asked again; the valid ones are kept, nothing is lost."""
    answers = iter(
        [
            "too short",  # justification: fewer than 20 characters
            "cv2",  # packages
            "httpx",
            "",
            "linux, solaris",  # platforms: 'solaris' is unknown, asked again at once
            "linux, win",  # 'win' is windows
            "",  # python: the default
            JUST,  # asked again: justification
            "opencv-python",  # asked again: the package 'cv2'
        ]
    )
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    path = new_request(
        env=ENV,
        root=root,
        packages=[],
        title="Vision",
        justification=None,
        requested_by="a@example.com",
        ask=ask,
        date="2026-11-21",
    )
    assert prompts[4:] == [
        "Platforms [linux, windows]: ",
        "Platforms [linux, windows]: ",
        "Python versions [3.11, 3.12]: ",
        "Justification (what the packages are for, who uses them): ",
        "  replace package 'cv2' with (empty: drop it): ",
    ]
    err = capsys.readouterr().err
    assert "  --platform solaris: unknown platform; choose from: linux, windows, macos\n" in err
    assert "  justification is 9 characters; at least 20 are needed" in err
    assert path is not None
    text = path.read_text()
    assert "platforms: [linux, windows]\n" in text
    assert "  - name: opencv-python\n  - name: httpx\n" in text
    assert check_files(root, [path]).problems == []


def test_end_of_input_at_a_prompt_is_an_error(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)

    def eof(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", eof)
    assert cli.main(["new", "-p", "httpx", "--date", "2026-11-21"]) == 1
    assert list((root / "requests").iterdir()) == []


@pytest.mark.parametrize(
    ("title", "named"),
    [("a\nb", "U+000A (newline)"), ("a\x1bb", "U+001B (ESC, escape)"), ("a\tb", "U+0009 (tab)")],
)
def test_refuses_a_title_that_is_not_one_line(
    root: Path, capsys: pytest.CaptureFixture[str], title: str, named: str
) -> None:
    argv = ["new", "-p", "six", "--title", title, "--justification", JUST, "--requested-by", "a@example.com"]
    assert cli.main([*argv, "--date", "2026-11-21"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "not writing requests/2026-11-21-a-b.yaml: the request would not pass curate check\n"
    )
    assert (
        f"requests/2026-11-21-a-b.yaml:2:1: title must be one line of plain text; it holds {named}\n" in err
    )
    assert list((root / "requests").iterdir()) == []


def test_refuses_a_control_character_in_the_justification(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "new",
        "-p",
        "six",
        "--title",
        "t",
        "--justification",
        JUST + "\x07",
        "--requested-by",
        "a@example.com",
    ]
    assert cli.main(argv) == 1
    assert "justification holds U+0007 (BEL, bell)" in capsys.readouterr().err
    assert list((root / "requests").iterdir()) == []
