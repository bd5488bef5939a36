"""curate.authoring: the one way curate new and curate import write a request."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from curate.authoring import Draft, DraftPackage, default_requester, package_from_text, render
from curate.requests import FILENAME, SLUG_MAX, slugify


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose global and system config are out of the way."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def _env(repo: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_AUTHOR_EMAIL", "EMAIL")}
    env.update(GIT_CONFIG_GLOBAL=str(repo / "no-global-config"), GIT_CONFIG_NOSYSTEM="1", **extra)
    return env


def _config(repo: Path, key: str, value: str) -> None:
    subprocess.run(["git", "-C", str(repo), "config", key, value], check=True)


@pytest.mark.parametrize(
    ("variables", "config", "expected"),
    [
        ({}, {}, None),
        ({"EMAIL": "env@example.com"}, {}, "env@example.com"),
        ({"EMAIL": "env@example.com"}, {"user.email": "user@example.com"}, "user@example.com"),
        ({}, {"user.email": "user@example.com", "author.email": "author@example.com"}, "author@example.com"),
        (
            {"GIT_AUTHOR_EMAIL": "git-author@example.com", "EMAIL": "env@example.com"},
            {"user.email": "user@example.com", "author.email": "author@example.com"},
            "git-author@example.com",
        ),
        ({"GIT_AUTHOR_EMAIL": "  ", "EMAIL": " env@example.com "}, {}, "env@example.com"),
    ],
)
def test_default_requester_follows_git(
    repo: Path, variables: dict[str, str], config: dict[str, str], expected: str | None
) -> None:
    for key, value in config.items():
        _config(repo, key, value)
    assert default_requester(repo, _env(repo, **variables)) == expected


def test_default_requester_without_git(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "EMAIL": "env@example.com"}  # no git on PATH
    assert default_requester(tmp_path, env) == "env@example.com"
    assert default_requester(tmp_path, {"PATH": str(tmp_path)}) is None


def test_curate_import_and_curate_new_use_it(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same default lands in the file either verb writes."""
    from curate import cli

    (repo / "catalog").mkdir()
    config = Path(__file__).resolve().parent.parent / "catalog" / "config.yaml"
    (repo / "catalog" / "config.yaml").write_text(config.read_text("utf-8"))
    (repo / "requirements.txt").write_text("httpx>=0.27\n")
    _config(repo, "user.email", "user@example.com")
    for key, value in _env(repo).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GIT_AUTHOR_EMAIL", raising=False)
    monkeypatch.delenv("EMAIL", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    monkeypatch.chdir(repo)
    just = ["--justification", "The billing service calls a REST API over HTTP/2."]
    assert cli.main(["new", "-p", "httpx", "--title", "HTTP", "--date", "2026-11-21", *just]) == 0
    assert cli.main(["import", "requirements.txt", "-o", "requests/2026-11-22-http.yaml", *just]) == 0
    for name in ("2026-11-21-http.yaml", "2026-11-22-http.yaml"):
        assert "requested_by: user@example.com\n" in (repo / "requests" / name).read_text("utf-8")


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Pandas for the finance team", "pandas-for-the-finance-team"),
        ("  ML: PyTorch + CUDA (GPU boxes)!", "ml-pytorch-cuda-gpu-boxes"),
        (
            "A very long title that keeps going well beyond fifty characters, and more",
            "a-very-long-title-that-keeps-going-well-beyond",
        ),
        # exactly at the limit: the last word is whole, so it stays
        ("a" * 45 + " bcde fgh", "a" * 45 + "-bcde"),
        ("x" * 60, "x" * 50),  # one word longer than the limit is cut
        ("Ünïcode only: Straße", "unicode-only-strae"),
        ("Import of requirements.txt, dev.txt", "import-of-requirements-txt-dev-txt"),
        ("Выгрузка", "request"),  # nothing to make a slug from
        ("!!!", "request"),
    ],
)
def test_one_slug_rule(title: str, slug: str) -> None:
    assert slugify(title) == slug
    assert len(slug) <= SLUG_MAX
    assert FILENAME.fullmatch(f"2026-11-21-{slug}.yaml")


@pytest.mark.parametrize(
    ("text", "name", "version"),
    [
        ("pandas>=2.2", "pandas", ">=2.2"),
        ("pandas", "pandas", ""),
        (" pandas >= 2.2 , < 3 ", "pandas", ">= 2.2 , < 3"),
        ("uvicorn[standard]~=0.30", "uvicorn[standard]", "~=0.30"),
        ("uvicorn [standard] ==1.*", "uvicorn[standard]", "==1.*"),
        ("numpy 1.2.3", "numpy", "1.2.3"),  # kept for check to refuse, with its hint
        ("?!", "?!", ""),
    ],
)
def test_package_from_text(text: str, name: str, version: str) -> None:
    assert package_from_text(text) == DraftPackage(name=name, version=version)


DRAFT = Draft(
    title="Forecasting stack",
    requested_by="ml@example.com",
    justification="The forecasting team trains models on Linux and runs notebooks on Windows laptops.",
    platforms=("linux", "windows"),
    python=("3.12",),
    compliance=("soc2",),
    packages=(
        DraftPackage(name="numpy", version=">=2", comment="requirements.txt:1"),
        DraftPackage(
            name="uvicorn[standard]",
            platforms=("linux",),
            notes=("marker dropped (python_version): python_version >= '3.8'",),
        ),
    ),
    header=("Imported by `curate import` from requirements.txt.",),
    footer=("Skipped (1): not part of this request", "  requirements.txt:3: -e .: editable install"),
)


def test_render() -> None:
    assert render(DRAFT, schema_ref="../scripts/curate/data/request.schema.json") == (
        "# yaml-language-server: $schema=../scripts/curate/data/request.schema.json\n"
        "# Imported by `curate import` from requirements.txt.\n"
        "title: Forecasting stack\n"
        "requested_by: ml@example.com\n"
        "justification: >-\n"
        "  The forecasting team trains models on Linux and runs notebooks on Windows laptops.\n"
        "platforms: [linux, windows]\n"
        'python: ["3.12"]\n'
        "compliance: [soc2]\n"
        "packages:\n"
        "  - name: numpy  # requirements.txt:1\n"
        '    version: ">=2"\n'
        "  # marker dropped (python_version): python_version >= '3.8'\n"
        "  - name: uvicorn[standard]\n"
        "    platforms: [linux]\n"
        "\n"
        "# Skipped (1): not part of this request\n"
        "#   requirements.txt:3: -e .: editable install\n"
    )


def test_render_leaves_out_what_is_not_given() -> None:
    draft = Draft(
        title="t",
        requested_by="r",
        justification="First line of the reason.\nSecond line: who uses it.",
        platforms=("linux",),
        packages=(DraftPackage(name="httpx"),),
    )
    assert render(draft, schema_ref="s.json") == (
        "# yaml-language-server: $schema=s.json\n"
        "title: t\n"
        "requested_by: r\n"
        "justification: |\n"
        "  First line of the reason.\n"
        "  Second line: who uses it.\n"
        "platforms: [linux]\n"
        "packages:\n"
        "  - name: httpx\n"
    )


def test_comments_stay_comments() -> None:
    """Text from a requirements file that lands in a comment cannot add a key to the request."""
    from curate.yamlio import loads

    sneaky = "a.txt:1\nremove:\n  - name: six"
    draft = Draft(
        title="t: x",
        requested_by="r",
        justification="j",
        platforms=("linux",),
        packages=(DraftPackage(name="httpx", comment=sneaky, notes=(sneaky,)),),
        header=(sneaky,),
        footer=(sneaky, f"  {sneaky}"),
    )
    doc, problems = loads(render(draft, schema_ref="s.json").encode(), "x.yaml")
    assert problems == []
    assert doc is not None
    assert list(doc.data) == ["title", "requested_by", "justification", "platforms", "packages"]
    assert doc.data["title"] == "t: x"
    assert doc.data["packages"] == [{"name": "httpx"}]
