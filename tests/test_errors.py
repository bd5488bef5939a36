"""The one reporter: problems and errors in their terminal form and as GitHub workflow commands, made
safe (control characters, workflow commands in data, credentials, escaping)."""

from __future__ import annotations

import io

import pytest

from curate.errors import (
    CurateError,
    LockError,
    Problem,
    Reporter,
    ValidationError,
    log_safe_json,
    one_line,
    terminal_text,
    workflow_error,
)

ACTIONS = {"GITHUB_ACTIONS": "true"}


def report(env: dict[str, str], exc: CurateError) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    Reporter(env, stdout=out, stderr=err).failure(exc)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("kwargs", "command"),
    [
        ({"message": "bad key"}, "::error::bad key"),
        ({"message": "bad key", "path": "catalog/config.yaml"}, "::error file=catalog/config.yaml::bad key"),
        (
            {"message": "bad key", "path": "catalog/config.yaml", "line": 7, "col": 3},
            "::error file=catalog/config.yaml,line=7,col=3::bad key",
        ),
        # data cannot end the command or start another: %, CR and LF escaped, in properties : and , too
        (
            {"message": "x 1.0 has no wheel\nhint: 50%\r\n::add-mask::x", "path": "requests/a:b,c.yaml"},
            "::error file=requests/a%3Ab%2Cc.yaml::x 1.0 has no wheel%0Ahint: 50%25%0A::add-mask::x",
        ),
        # control characters are dropped (an escape sequence, a backspace, a bidi override)
        ({"message": "red\x1b[31m\x08 \u202eevil"}, "::error::red[31m evil"),
    ],
)
def test_workflow_error(kwargs: dict[str, object], command: str) -> None:
    assert workflow_error(**kwargs) == command  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("plain\n    indented", "plain\n    indented"),
        ("a\r\nb\rc", "a\nbc"),
        ("\x1b]0;title\x07colour \x1b[1mbold", "]0;titlecolour [1mbold"),
        # a line of data that the Actions runner would read as a command (leading blanks are trimmed)
        (
            "x\n::add-mask::secret\n  ::error::fake\n##[set-output name=a]b",
            "x\n\\::add-mask::secret\n  \\::error::fake\n##\\[set-output name=a]b",
        ),
        ("in the middle :: is harmless", "in the middle :: is harmless"),
        # the runner finds the older form anywhere in a line (IndexOf), and a backslash before it does
        # not help: `\##[error]` still holds `##[error]`
        ("reason: ##[error]approve now", "reason: ##\\[error]approve now"),
        ("###[x] ##[stop-commands]tok", "###\\[x] ##\\[stop-commands]tok"),
        # C# TrimStart() trims Unicode blanks too (no-break space, em space, line separator)
        ("a\n\u00a0\u2003::stop-commands::tok", "a\n\u00a0\u2003\\::stop-commands::tok"),
        ("\u2028::error::x", "\u2028\\::error::x"),
        # a carriage return cannot hide a line start: it is dropped, and the line still starts with data
        ("ok\r::error::x", "ok::error::x"),
    ],
)
def test_terminal_text(text: str, safe: str) -> None:
    assert terminal_text(text) == safe


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a\nb\r\nc\rd", "a b c d"),
        ("  many   blanks\t\u2028\u2029\x85end ", "many blanks end"),
        ("\x1b[2Jcleared \u202eevil", "[2Jcleared evil"),  # the escape goes, its text stays (inert)
    ],
)
def test_one_line(text: str, line: str) -> None:
    assert one_line(text) == line


def test_json_for_a_log_reads_back_the_same() -> None:
    import json

    doc = {"message": "##[error]forged ::error::x", "n": "###["}
    text = log_safe_json(json.dumps(doc, indent=2))
    assert "##[" not in text
    assert json.loads(text) == doc


def test_problems_print_on_their_file_and_line_with_annotations_in_ci() -> None:
    problems = [
        Problem(path="requests/b.yaml", line=9, message="cannot remove x 1.0", hint="drop the removal"),
        Problem(path="requests/a.yaml", line=7, message="y 2.0 has no wheel\nfor windows", key="packages[1]"),
    ]
    out, err = report(ACTIONS, LockError(problems=problems))
    assert err == (
        "requests/a.yaml:7: y 2.0 has no wheel\nfor windows\n"
        "requests/b.yaml:9: cannot remove x 1.0\n    hint: drop the removal\n"
        "error: 2 problem(s) found; catalog/ was left as it was\n"
    )
    assert out == (
        "::error file=requests/a.yaml,line=7::y 2.0 has no wheel%0Afor windows\n"
        "::error file=requests/b.yaml,line=9::cannot remove x 1.0 (hint: drop the removal)\n"
    )
    # outside GitHub Actions: the terminal form only
    assert report({}, LockError(problems=problems)) == ("", err)


def test_validation_errors_keep_their_summary() -> None:
    out, err = report({}, ValidationError([Problem(path="requests/a.yaml", line=2, col=5, message="bad")]))
    assert (out, err) == ("", "requests/a.yaml:2:5: bad\n1 problem(s) found\n")


def test_an_error_without_problems_is_one_line_and_a_file_less_annotation() -> None:
    out, err = report(ACTIONS, CurateError("uv failed: exit 2\n::stop-commands::x"))
    assert err == "error: uv failed: exit 2\n\\::stop-commands::x\n"
    assert out == "::error::uv failed: exit 2%0A::stop-commands::x\n"


def test_credentials_never_reach_the_log() -> None:
    url = "https://ci-bot:s3cret@upstream.example/simple/"
    problem = Problem(path="requests/a.yaml", line=3, message=f"cannot reach {url}", hint=f"check {url}")
    for exc in (CurateError(f"cannot reach {url}"), LockError(problems=[problem])):
        out, err = report(ACTIONS, exc)
        assert "s3cret" not in out + err
        assert "https://***@upstream.example/simple/" in out
        assert "https://***@upstream.example/simple/" in err


def test_only_the_annotation() -> None:
    out, err = io.StringIO(), io.StringIO()
    reporter = Reporter(ACTIONS, stdout=out, stderr=err)
    reporter.annotation(Problem(path="catalog/packages/x.yaml", message="x 1.0: license-denied"))
    reporter.annotation(Problem(path="", message="no file"))
    assert out.getvalue() == "::error file=catalog/packages/x.yaml::x 1.0: license-denied\n::error::no file\n"
    assert err.getvalue() == ""
