"""curate.authoring: the one way curate new and curate import write a request."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from curate.atomic import atomic_writer
from curate.authoring import (
    Draft,
    DraftPackage,
    Prepared,
    RequestFields,
    default_requester,
    import_request,
    package_from_text,
    prepare,
    render,
    write,
)
from curate.config import Config, load_config
from curate.errors import CurateError, UsageError, ValidationError
from curate.importers import Options
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


FIELDS = RequestFields(
    title=DRAFT.title,
    requested_by=DRAFT.requested_by,
    justification=DRAFT.justification,
    platforms=("linux", "win"),  # as given on the command line: 'win' is windows
    python=("3.12",),
    compliance=DRAFT.compliance,
    date="2026-11-21",
)


def _prepare(root: Path, config: Config, **fields: Any) -> Prepared:
    packages = fields.pop("packages", DRAFT.packages)
    return prepare(
        dataclasses.replace(FIELDS, **fields),
        packages,
        root=root,
        config=config,
        header=DRAFT.header,
        footer=DRAFT.footer,
    )


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Config]:
    """A catalog root (the cwd, so that paths are shown relative to it) and its config."""
    (tmp_path / "catalog").mkdir()
    config = Path(__file__).resolve().parent.parent / "catalog" / "config.yaml"
    (tmp_path / "catalog" / "config.yaml").write_text(config.read_text("utf-8"))
    monkeypatch.chdir(tmp_path)
    return tmp_path, load_config(tmp_path)


def test_prepare_names_renders_and_checks(catalog: tuple[Path, Config]) -> None:
    root, config = catalog
    prepared = _prepare(root, config)
    assert prepared.path == root / "requests" / "2026-11-21-forecasting-stack.yaml"
    assert prepared.shown == "requests/2026-11-21-forecasting-stack.yaml"
    assert prepared.text == render(DRAFT, schema_ref="../scripts/curate/data/request.schema.json")
    assert prepared.problems == ()
    assert not (root / "requests").exists()  # nothing written yet
    assert write(prepared) == prepared.path
    assert prepared.path.read_text("utf-8") == prepared.text


@pytest.mark.parametrize(
    ("output", "path", "schema_ref"),
    [
        ("-", None, "../scripts/curate/data/request.schema.json"),
        (
            "elsewhere/deep/2026-11-21-x.yaml",
            "elsewhere/deep/2026-11-21-x.yaml",
            "../../scripts/curate/data/request.schema.json",
        ),
        (
            "catalog",
            "catalog/2026-11-21-forecasting-stack.yaml",
            "../scripts/curate/data/request.schema.json",
        ),
    ],
)
def test_prepare_for_output(
    catalog: tuple[Path, Config], output: str, path: str | None, schema_ref: str
) -> None:
    root, config = catalog
    prepared = _prepare(root, config, output=Path(output))
    assert prepared.path == (None if path is None else Path(path))
    assert prepared.text.startswith(f"# yaml-language-server: $schema={schema_ref}\n")


def test_prepare_reports_what_check_would(catalog: tuple[Path, Config]) -> None:
    root, config = catalog
    packages = (DraftPackage(name="cv2"), DraftPackage(name="numpy", version="1.2"))
    prepared = _prepare(root, config, justification="tbd", packages=packages, slug="cv")
    assert [(p.path, p.line, p.message) for p in prepared.problems] == [
        ("requests/2026-11-21-cv.yaml", 5, "justification 'tbd' is a placeholder"),
        ("requests/2026-11-21-cv.yaml", 10, "'cv2' is the import name; the distribution is 'opencv-python'"),
        ("requests/2026-11-21-cv.yaml", 12, "'1.2' is a bare version, not a specifier"),
    ]
    with pytest.raises(ValidationError):
        write(prepared)
    assert not (root / "requests").exists()


def test_prepare_checks_the_file_name(catalog: tuple[Path, Config]) -> None:
    root, config = catalog
    prepared = _prepare(root, config, output=Path("requests/notes.yaml"))
    assert [p.message for p in prepared.problems] == ["file name 'notes.yaml' is not YYYY-MM-DD-slug.yaml"]
    with pytest.raises(UsageError, match=r"--slug 'Bad_Slug' must match \[a-z0-9-\]\+"):
        _prepare(root, config, slug="Bad_Slug")


def test_write_never_overwrites(catalog: tuple[Path, Config], monkeypatch: pytest.MonkeyPatch) -> None:
    root, config = catalog
    prepared = _prepare(root, config)
    assert prepared.path is not None
    prepared.path.parent.mkdir()
    prepared.path.write_text("mine\n")
    message = "requests/2026-11-21-forecasting-stack.yaml already exists; a request is never overwritten"
    with pytest.raises(CurateError, match=message):
        write(prepared)
    assert prepared.path.read_text() == "mine\n"

    # a file that appears while the request is written is not replaced either
    prepared.path.unlink()

    @contextlib.contextmanager
    def racing(path: Path) -> Iterator[Any]:
        with atomic_writer(path) as fh:
            path.write_text("theirs\n")
            yield fh

    monkeypatch.setattr("curate.authoring.atomic_writer", racing)
    with pytest.raises(CurateError, match=message):
        write(prepared)
    assert prepared.path.read_text() == "theirs\n"
    assert [p.name for p in prepared.path.parent.iterdir()] == [prepared.path.name]  # no temporary left


def test_import_request(catalog: tuple[Path, Config]) -> None:
    root, config = catalog
    (root / "r.txt").write_text("Django>=4.2\n-e ./local\n")
    fields = RequestFields(
        requested_by="me@example.com", justification=DRAFT.justification, date="2026-11-21"
    )
    imported = import_request([Path("r.txt")], fields, root=root, config=config, options=Options())
    assert imported.prepared is not None
    assert imported.prepared.path == root / "requests" / "2026-11-21-import-of-r-txt.yaml"
    assert imported.prepared.problems == ()
    text = imported.prepared.text
    assert text.startswith(
        "# yaml-language-server: $schema=../scripts/curate/data/request.schema.json\n"
        "# Imported by `curate import` from r.txt.\n"
        "title: Import of r.txt\n"
    )
    assert "  - name: django  # Django; r.txt:1\n" in text
    assert text.endswith(
        "# Skipped (1): not part of this request\n"
        "#   r.txt:2: -e ./local: editable install: the catalog only serves vetted files from its index\n"
    )

    (root / "e.txt").write_text("-e ./local\n")
    imported = import_request([Path("e.txt")], fields, root=root, config=config, options=Options())
    assert imported.prepared is None
    assert (
        imported.nothing_imported()
        == "nothing to import from e.txt: its only entry was skipped (listed above)"
    )
