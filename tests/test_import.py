"""curate import: expected requests per format, the whole corpus, skips, --strict, contradictions, fuzzing."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pip_requirements_parser as prp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet

from curate.authoring import RequestFields
from curate.checking import check_files
from curate.cli import main
from curate.commands.importcmd import import_request
from curate.errors import CurateError, UsageError, ValidationError
from curate.importers import Options
from curate.importers.detect import detect
from curate.importers.merge import satisfiable, simplify
from curate.importers.requirements import _parse_line, parse_requirements_text

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "import"
CORPUS = REPO.parent / "shared" / "corpus" / "requirements"
JUSTIFICATION = "Hand-made example inputs for the importer tests"
TODAY = dt.date(2026, 1, 1)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A catalog repository with the real config and the hand-made inputs under data/; the cwd."""
    (tmp_path / "catalog").mkdir()
    shutil.copy(REPO / "catalog" / "config.yaml", tmp_path / "catalog" / "config.yaml")
    shutil.copytree(DATA, tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(root: Path, files: list[str], out: str = "requests/2026-01-01-imported.yaml", **kw: Any) -> int:
    fields = RequestFields(
        output=Path(out),
        date=TODAY.isoformat(),
        title=kw.pop("title", None),
        justification=kw.pop("justification", JUSTIFICATION),
        requested_by=kw.pop("requested_by", "tests@example.com"),
        platforms=tuple(kw.pop("platforms", ())),
        python=tuple(kw.pop("python", ())),
    )
    options = Options(
        extras=frozenset(kw.pop("extras", ())),
        groups=frozenset(kw.pop("groups", ())),
        develop=kw.pop("develop", False),
    )
    return import_request(fields, [Path(f) for f in files], options, root=root, env={}, **kw)


EXPECTED: dict[str, tuple[list[str], dict[str, Any], str]] = {
    "requirements": (
        ["data/req/requirements.txt"],
        {},
        """\
# yaml-language-server: $schema=../scripts/curate/data/request.schema.json
# Imported by `curate import` from data/req/requirements.txt, data/req/sub/base.txt, data/req/constraints.txt.
title: Import of requirements.txt
requested_by: tests@example.com
justification: Hand-made example inputs for the importer tests
platforms: [linux, windows]
python: ["3.11", "3.12"]
packages:
  - name: django  # Django; data/req/sub/base.txt:9, data/req/constraints.txt:1, data/req/requirements.txt:5
    version: ">=4.2,<4.3"
  - name: pywin32  # data/req/requirements.txt:7
    version: "==306"
    platforms: [windows]
  - name: pyyaml  # PyYAML; data/req/sub/base.txt:3; via -r requirements.in, django-stubs
    version: "==6.0.1"
  - name: requests[socks]  # data/req/requirements.txt:6
    version: ">=2.31"
  - name: uvloop  # data/req/requirements.txt:8
    platforms: [linux]

# Skipped (7): not part of this request
#   data/req/requirements.txt:2: --index-url https://upstream.example/simple/: pip option: clients use the catalog's index instead
#   data/req/sub/base.txt:2: -r data/req/requirements.txt: include cycle (data/req/requirements.txt -> data/req/sub/base.txt -> data/req/requirements.txt); the file is read once
#   data/req/sub/base.txt:3: --hash on 1 requirement(s): the catalog records and verifies its own sha256 of every file when it locks
#   data/req/requirements.txt:9: -e ./local-lib: editable install: the catalog only serves vetted files from its index
#   data/req/requirements.txt:10: yaml: 'yaml' is the import name; the distribution is 'PyYAML' (write PyYAML)
#   data/req/requirements.txt:11: legacy-lib; python_version < "3": the marker 'python_version < "3"' is never true on the catalog's targets (CPython 3.11, 3.12 on linux, windows, macos)
#   data/req/constraints.txt:2: urllib3<2: a constraint (-c) that no requirement names; constraints never add packages
""",
    ),
    "pyproject": (
        ["data/pyproject.toml"],
        {"groups": ["test"], "extras": ["all"]},
        """\
# yaml-language-server: $schema=../scripts/curate/data/request.schema.json
# Imported by `curate import` from data/pyproject.toml.
title: Import of pyproject.toml
requested_by: tests@example.com
justification: Hand-made example inputs for the importer tests
platforms: [linux, windows]
python: ["3.11", "3.12"]
packages:
  - name: fastapi  # data/pyproject.toml:5
    version: ">=0.115"
  - name: psycopg[binary]  # data/pyproject.toml:12
    version: ">=3.1"
  - name: pydantic-settings  # Pydantic_Settings; data/pyproject.toml:6
    version: "~=2.4"
  - name: pytest  # data/pyproject.toml:16
    version: ">=8"
  - name: ruff  # data/pyproject.toml:17
  - name: uvloop  # data/pyproject.toml:7
    version: ">=0.20"
    platforms: [linux]

# Skipped (3): not part of this request
#   data/pyproject.toml:8: mylib @ https://upstream.example/mylib-1.0.tar.gz: direct reference: the catalog only serves vetted files from its index
#   data/pyproject.toml:13: orders-api[postgres]: the project itself (its extras are imported with --extra)
#   data/pyproject.toml:18: mkdocs: in dependency group 'docs'; pass --group docs to import it
""",
    ),
    "poetry": (
        ["data/poetry-pyproject.toml"],
        {"extras": ["aws"], "develop": True},
        """\
# yaml-language-server: $schema=../scripts/curate/data/request.schema.json
# Imported by `curate import` from data/poetry-pyproject.toml.
title: Import of poetry-pyproject.toml
requested_by: tests@example.com
justification: Hand-made example inputs for the importer tests
platforms: [linux, windows]
python: ["3.11", "3.12"]
packages:
  - name: boto3  # data/poetry-pyproject.toml:12
    version: ">=1.34.0,<2"
  - name: numpy  # data/poetry-pyproject.toml:7
    version: ">=1.26.0,<2"
  - name: pandas[excel]  # data/poetry-pyproject.toml:8
    version: ">=2.2.0,<2.3"
  - name: pytest  # data/poetry-pyproject.toml:18
    version: ">=8.0.0,<9"
  - name: pywin32  # data/poetry-pyproject.toml:11
    version: "==306"
    platforms: [windows]

# Skipped (3): not part of this request
#   data/poetry-pyproject.toml:6: python = "^3.11": the Python requirement is not a package: the request's 'python' comes from --python or the catalog's default
#   data/poetry-pyproject.toml:9: scipy = ">=1.11 || <1.0": '>=1.11 || <1.0': Poetry's '||' (or) leaves a gap between its ranges, which PEP 440 cannot express; write the one range the request needs by hand
#   data/poetry-pyproject.toml:10: tomli = { version = "^2.0", python = "<3.11" }: the marker 'python_full_version < "3.11"' is never true on the catalog's targets (CPython 3.11, 3.12 on linux, windows, macos)
""",
    ),
    "pipfile": (
        ["data/Pipfile"],
        {"develop": True},
        """\
# yaml-language-server: $schema=../scripts/curate/data/request.schema.json
# Imported by `curate import` from data/Pipfile.
title: Import of Pipfile
requested_by: tests@example.com
justification: Hand-made example inputs for the importer tests
platforms: [linux, windows]
python: ["3.12"]
packages:
  - name: flask  # Flask; data/Pipfile:7
    version: ">=3"
  - name: pytest  # data/Pipfile:13
  - name: pywin32  # data/Pipfile:9
    version: "==306"
    platforms: [windows]
  - name: requests[socks]  # data/Pipfile:8

# Skipped (2): not part of this request
#   data/Pipfile:2: [[source]] upstream = https://upstream.example/simple: package source: clients use the catalog's index instead
#   data/Pipfile:10: mylib = {path = ".", editable = true}: direct reference: the catalog only serves vetted files from its index
""",
    ),
    "pipfile-lock": (
        ["data/Pipfile.lock"],
        {"platforms": ["windows"]},
        """\
# yaml-language-server: $schema=../scripts/curate/data/request.schema.json
# Imported by `curate import` from data/Pipfile.lock.
title: Import of Pipfile.lock
requested_by: tests@example.com
justification: Hand-made example inputs for the importer tests
platforms: [windows]
python: ["3.11", "3.12"]
packages:
  - name: colorama  # data/Pipfile.lock:15
    version: "==0.4.6"
  - name: flask  # data/Pipfile.lock:9
    version: "==3.0.3"

# Skipped (2): not part of this request
#   data/Pipfile.lock:20: mylib = {editable = true, path = "."}: direct reference: the catalog only serves vetted files from its index
#   data/Pipfile.lock:23: pytest==8.2.0: in 'develop'; pass --develop to import it
""",
    ),
    "uv-lock": (
        ["data/uv.lock"],
        {"develop": True},
        """\
# yaml-language-server: $schema=../scripts/curate/data/request.schema.json
# Imported by `curate import` from data/uv.lock.
title: Import of uv.lock
requested_by: tests@example.com
justification: Hand-made example inputs for the importer tests
platforms: [linux, windows]
python: ["3.11", "3.12"]
packages:
  - name: colorama  # data/uv.lock:19
    version: "==0.4.6"
    platforms: [windows]
  - name: httpx  # data/uv.lock:24
    version: "==0.27.2"
  - name: pytest  # data/uv.lock:29
    version: "==8.3.3"

# Skipped (1): not part of this request
#   data/uv.lock:6: app==0.1.0: the project itself (a local or workspace package), not a package from an index
""",
    ),
    "pylock": (
        ["data/pylock.toml"],
        {"groups": ["dev"]},
        """\
# yaml-language-server: $schema=../scripts/curate/data/request.schema.json
# Imported by `curate import` from data/pylock.toml.
title: Import of pylock.toml
requested_by: tests@example.com
justification: Hand-made example inputs for the importer tests
platforms: [linux, windows]
python: ["3.11", "3.12"]
packages:
  - name: attrs  # data/pylock.toml:7
    version: "==24.2.0"
  - name: pytest  # data/pylock.toml:12
    version: "==8.3.3"

# Skipped (1): not part of this request
#   data/pylock.toml:17: mylib (directory): direct reference: the catalog only serves vetted files from its index
""",
    ),
    "poetry-lock": (
        ["data/poetry.lock"],
        {"develop": True, "platforms": ["linux"]},
        """\
# yaml-language-server: $schema=../scripts/curate/data/request.schema.json
# Imported by `curate import` from data/poetry.lock.
title: Import of poetry.lock
requested_by: tests@example.com
justification: Hand-made example inputs for the importer tests
platforms: [linux]
python: ["3.11", "3.12"]
packages:
  - name: numpy  # data/poetry.lock:4
    version: "==1.26.4"

# Skipped (2): not part of this request
#   data/poetry.lock:25: mylib==0.1.0 (directory: mylib): editable install: the catalog only serves vetted files from its index
#   data/poetry.lock:15: colorama==0.4.6: only for windows (marker 'sys_platform == "win32"'), which the request does not target; pass --platform windows
""",
    ),
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_expected_request(root: Path, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    files, kw, expected = EXPECTED[case]
    assert run(root, files, **kw) == 0
    out = root / "requests" / "2026-01-01-imported.yaml"
    assert out.read_text("utf-8") == expected
    assert check_files(root, [out]).problems == []
    err = capsys.readouterr().err
    for line in expected.split("# Skipped", 1)[1].splitlines()[1:] if "# Skipped" in expected else []:
        assert line.removeprefix("#   ") in err


def test_skips_are_printed_as_path_line_entry_reason(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(root, ["data/req/requirements.txt"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert (
        "data/req/requirements.txt:9: -e ./local-lib: editable install: the catalog only serves vetted files from its index"
        in err
    )
    assert (
        "data/req/requirements.txt:10: yaml: 'yaml' is the import name; the distribution is 'PyYAML' (write PyYAML)"
        in err
    )


def test_strict_exits_1_and_writes_nothing(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(root, ["data/req/requirements.txt"], strict=True) == 1
    assert not (root / "requests" / "2026-01-01-imported.yaml").exists()
    assert (
        "7 entries were skipped; --strict: requests/2026-01-01-imported.yaml not written"
        in capsys.readouterr().err
    )


def test_strict_passes_when_nothing_is_skipped(root: Path) -> None:
    (root / "clean.txt").write_text("attrs==24.2.0\nhttpx>=0.27\n")
    assert run(root, ["clean.txt"], strict=True) == 0


def test_contradiction_names_both_lines(root: Path) -> None:
    (root / "a.txt").write_text("attrs==1.0\n")
    (root / "b.txt").write_text("# pinned elsewhere\nattrs>=2\n")
    with pytest.raises(ValidationError) as exc:
        run(root, ["a.txt", "b.txt"])
    assert [p.format() for p in exc.value.problems] == [
        "b.txt:2: requirement 'attrs>=2' contradicts 'attrs==1.0' at a.txt:1: no version satisfies both '>=2' and '==1.0'\n"
        "    hint: keep the one you mean and delete or fix the other"
    ]
    assert not (root / "requests").exists()


def test_contradiction_with_a_constraint(root: Path) -> None:
    (root / "c.txt").write_text("attrs<20\n")
    (root / "r.txt").write_text("-c c.txt\nattrs>=23\n")
    with pytest.raises(
        ValidationError, match=r"r\.txt:2: requirement 'attrs>=23' contradicts 'attrs<20' at c\.txt:1"
    ):
        run(root, ["r.txt"])


def test_different_versions_on_different_platforms_are_skipped_not_errors(root: Path) -> None:
    (root / "r.txt").write_text(
        "numpy==1.24.3; sys_platform != 'win32'\nnumpy==1.22.0; sys_platform == 'win32'\nattrs\n"
    )
    assert run(root, ["r.txt"]) == 0
    text = (root / "requests" / "2026-01-01-imported.yaml").read_text()
    assert "- name: numpy" not in text
    assert (
        "#   r.txt:1: numpy==1.24.3; sys_platform != 'win32': different versions on different platforms"
        in text
    )


def test_a_range_for_one_platform_that_binds_all_says_so(root: Path) -> None:
    (root / "r.txt").write_text("numpy==2.1; sys_platform == 'win32'\nnumpy>=2\n")
    assert run(root, ["r.txt"]) == 0
    text = (root / "requests" / "2026-01-01-imported.yaml").read_text()
    assert (
        "  # r.txt:1 asked for '==2.1' only on windows; a request has one version range per package, "
        "so it applies on every platform of this package here\n"
        "  - name: numpy  # r.txt:1, r.txt:2\n"
        '    version: "==2.1"\n'
    ) in text


def test_same_project_merged_by_intersection(root: Path) -> None:
    (root / "a.txt").write_text("Django>=4.0\n")
    (root / "b.txt").write_text("django<5,!=4.1.0\n")
    assert run(root, ["a.txt", "b.txt"]) == 0
    text = (root / "requests" / "2026-01-01-imported.yaml").read_text()
    assert '  - name: django  # Django; a.txt:1, b.txt:1\n    version: ">=4.0,!=4.1.0,<5"\n' in text


def test_include_cycle_between_two_files(root: Path) -> None:
    (root / "a.txt").write_text("-r b.txt\nattrs\n")
    (root / "b.txt").write_text("-r a.txt\nhttpx\n")
    assert run(root, ["a.txt"]) == 0
    text = (root / "requests" / "2026-01-01-imported.yaml").read_text()
    assert "- name: attrs" in text
    assert "- name: httpx" in text
    assert "#   b.txt:1: -r a.txt: include cycle (a.txt -> b.txt -> a.txt); the file is read once" in text


def test_missing_include_is_skipped(root: Path) -> None:
    (root / "a.txt").write_text("-r nowhere.txt\nattrs\n")
    assert run(root, ["a.txt"]) == 0
    assert (
        "#   a.txt:1: -r nowhere.txt: cannot read it: No such file or directory"
        in (root / "requests" / "2026-01-01-imported.yaml").read_text()
    )


def test_never_overwrites(root: Path) -> None:
    (root / "a.txt").write_text("attrs\n")
    assert run(root, ["a.txt"]) == 0
    with pytest.raises(CurateError, match="already exists; a request is never overwritten"):
        run(root, ["a.txt"])
    assert [p.name for p in (root / "requests").iterdir()] == ["2026-01-01-imported.yaml"]


def test_justification_is_required(root: Path) -> None:
    (root / "a.txt").write_text("attrs\n")
    with pytest.raises(UsageError, match="--justification"):
        run(root, ["a.txt"], justification=None)


def test_too_short_justification_fails_the_in_process_check(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / "a.txt").write_text("attrs\n")
    with pytest.raises(ValidationError, match="justification is 5 characters"):
        run(root, ["a.txt"], justification="needs")
    assert capsys.readouterr().err.endswith(
        "not writing requests/2026-01-01-imported.yaml: the request would not pass curate check\n"
    )
    assert not (root / "requests" / "2026-01-01-imported.yaml").exists()


def test_unknown_group_is_an_error_with_a_suggestion(root: Path) -> None:
    with pytest.raises(ValidationError) as exc:
        run(root, ["data/pyproject.toml"], groups=["tests"])
    assert exc.value.problems[0].format() == (
        "--group: no file defines the group 'tests'\n    hint: did you mean 'test'?"
    )


def test_nothing_to_import(root: Path) -> None:
    (root / "a.txt").write_text("-e .\n")
    with pytest.raises(CurateError, match=r"nothing to import from a\.txt: its only entry was skipped"):
        run(root, ["a.txt"])


def test_default_output_name_and_schema_pointer(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (root / "a.txt").write_text("attrs\n")
    code = main(
        [
            "import",
            "a.txt",
            "--title",
            "Forecasting: imported stack",
            "--justification",
            JUSTIFICATION,
            "--requested-by",
            "me",
        ]
    )
    assert code == 0
    written = sorted((root / "requests").iterdir())
    assert [p.name for p in written] == [f"{dt.date.today().isoformat()}-forecasting-imported-stack.yaml"]
    assert (
        written[0]
        .read_text()
        .startswith("# yaml-language-server: $schema=../scripts/curate/data/request.schema.json\n")
    )
    assert f"wrote requests/{written[0].name}: 1 package(s) from 1 file(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("requirements.txt", "attrs\n", "requirements"),
        ("dev.in", "attrs\n", "requirements"),
        ("Pipfile", "[packages]\n", "pipfile"),
        ("Pipfile.lock", "{}", "pipfile-lock"),
        ("poetry.lock", "", "poetry-lock"),
        ("uv.lock", "", "uv-lock"),
        ("pylock.toml", "", "pylock"),
        ("pylock.dev.toml", "", "pylock"),
        ("pyproject.toml", "", "pyproject"),
        ("git_source", "[packages]\nx = '*'\n", "pipfile"),
        ("hard_names.lock", '{"_meta": {}, "default": {}}', "pipfile-lock"),
        ("git_dependency.lock", '[[package]]\nname = "x"\n[metadata]\nlock-version = "2.0"\n', "poetry-lock"),
        ("x.lock", 'version = 1\n[[package]]\nname = "x"\n', "uv-lock"),
        ("deps", "attrs==1\n", "requirements"),
    ],
)
def test_detect(name: str, text: str, expected: str) -> None:
    assert detect(name, text.encode()) == expected


# -- the shared corpus: every file imports without a crash and the result passes `curate check` ------


def _corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.glob("*/*") if p.is_file())


def _original_path(p: Path) -> Path:
    """owner__repo__dir__file -> owner__repo/dir/file, so that -r/-c includes resolve as upstream."""
    owner, repo, *rest = p.name.split("__")
    return Path(f"{owner}__{repo}", *rest)


@pytest.fixture(scope="module")
def corpus_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("corpus")
    for p in _corpus_files():
        target = tree / p.parent.name / _original_path(p)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, target)
    return tree


# files whose every entry is a direct reference (or the project itself): nothing to import
NOTHING_TO_IMPORT = {
    "openedx__edx-platform__requirements__edx__github.in",
    "pallets__flask__requirements__tests-pallets-dev.in",
    "pallets__flask__requirements__tests-pallets-dev.txt",
    "python-poetry__poetry__tests__fixtures__missing_extra_directory_dependency__poetry.lock",
}


# files that really contradict themselves: the error names both lines (the corpus copied
# requirements_test.txt and the constraints it includes from different commits)
CONTRADICTIONS = {
    "home-assistant__core__requirements_test.txt": (
        r"requirements_test\.txt:21: requirement 'pydantic==2\.13\.2' contradicts 'pydantic==1\.10\.17' at "
        r".*/homeassistant/package_constraints\.txt:137"
    ),
}


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: p.name)
def test_corpus_file_imports_and_passes_check(
    path: Path, corpus_tree: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = corpus_tree / path.parent.name / _original_path(path)
    kw: dict[str, Any] = {
        "develop": True,
        "extras": ["*"],
        "groups": ["*"],
        "platforms": ["linux", "windows", "macos"],
    }
    if path.name in NOTHING_TO_IMPORT:
        with pytest.raises(CurateError, match="nothing to import"):
            run(root, [str(source)], **kw)
        return
    if path.name in CONTRADICTIONS:
        with pytest.raises(ValidationError, match=CONTRADICTIONS[path.name]):
            run(root, [str(source)], **kw)
        return
    assert run(root, [str(source)], **kw) == 0
    out = root / "requests" / "2026-01-01-imported.yaml"
    assert check_files(root, [out]).problems == []
    text = out.read_text("utf-8")
    err = capsys.readouterr().err
    for line in err.splitlines():  # every skip printed is also in the request
        if not line.startswith("note: "):
            assert f"#   {line}" in text


def test_corpus_includes_are_followed(corpus_tree: Path, root: Path) -> None:
    if not CORPUS.is_dir():
        pytest.skip("the shared corpus is not available")
    source = corpus_tree / "requirements-txt" / "pytorch__serve" / "requirements" / "torch_cu121_linux.txt"
    assert run(root, [str(source)], platforms=["linux", "windows"]) == 0
    text = (root / "requests" / "2026-01-01-imported.yaml").read_text()
    assert "requirements/torch_common.txt:1" in text  # -r followed, relative to the including file
    assert (
        "torch_common.txt:4: numpy==1.24.3; sys_platform != 'win32': different versions on different platforms"
        in text
    )


# -- the requirements parser -------------------------------------------------------------------------

_names = st.from_regex(r"[A-Za-z][A-Za-z0-9._-]{0,12}[A-Za-z0-9]", fullmatch=True)
_versions = st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}((a|b|rc)[0-9])?", fullmatch=True)
_ops = st.sampled_from(["==", ">=", "<=", "!=", "~=", "<", ">", "===", " >= ", "="])
_markers = st.sampled_from(
    [
        "",
        "; sys_platform == 'win32'",
        ' ; python_version < "3.11"',
        ";os_name=='nt' and platform_machine=='x86_64'",
    ]
)
_options = st.sampled_from(
    ["", " --hash=sha256:" + "0" * 64, " \\\n    --hash=sha256:" + "1" * 64, "  # comment"]
)
_line = st.builds(
    lambda n, e, o, v, m, opt: f"{n}{e}{o}{v}{m}{opt}",
    _names,
    st.sampled_from(["", "[socks]", "[a,b]", "[ bad"]),
    _ops,
    _versions,
    _markers,
    _options,
)
_junk = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=60)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(
        st.one_of(_line, _junk, st.sampled_from(["-r other.txt", "--index-url x", "-e .", "\\"])), max_size=8
    )
)
def test_requirements_lines_never_crash(lines: list[str]) -> None:
    parsed = parse_requirements_text("\n".join(lines) + "\n")
    for entry in parsed.entries:
        SpecifierSet(entry.specifier)  # every entry has a valid specifier
        assert entry.line >= 1


@settings(max_examples=200, deadline=None)
@given(line=st.one_of(_line, _junk))
def test_cached_option_parser_matches_the_library(line: str) -> None:
    line = line.replace("\n", " ").replace("\\", "")
    try:
        expected = prp.get_line_parser()(line)
    except Exception as exc:
        with pytest.raises(type(exc)):
            _parse_line(line)
        return
    args, opts, arguments = _parse_line(line)
    assert (args, vars(opts), arguments) == (expected[0], vars(expected[1]), expected[2])


@pytest.mark.parametrize(
    ("spec", "ok"),
    [
        ("==1.0,>=2", False),
        (">=2,<1", False),
        ("==1.0,!=1.0", False),
        (">1.0,<1.0.1", True),
        ("==2.0+cpu,==2.0", True),
        ("~=1.4.5,<1.5", True),
        ("==1.*,>=1.9", True),
        ("==1.*,>=2", False),
        (">=1.0a1,<1.0", False),  # <V excludes pre-releases of V (PEP 440)
        (">=1.0a1,<1.0b1", True),
        ("", True),
    ],
)
def test_satisfiable(spec: str, ok: bool) -> None:
    assert satisfiable(SpecifierSet(spec)) is ok


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("!=1.2.2,<1.3,<2,>=1.0.0,>=1.1,>=1.2", ">=1.2,!=1.2.2,<1.3"),
        ("==1.2.3,>=1", "==1.2.3"),
        (">1.2,>=1.2", ">1.2"),
        ("<=2,<2", "<2"),
        ("~=1.4,<2", "~=1.4,<2"),
    ],
)
def test_simplify(spec: str, expected: str) -> None:
    assert simplify(SpecifierSet(spec)) == expected


def test_end_of_input_at_the_justification_prompt(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-D at the terminal prompt is an error, as in curate new, not a traceback."""
    (root / "requirements.txt").write_text("httpx>=0.27\n")
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)

    def eof(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", eof)
    assert main(["import", "requirements.txt", "--requested-by", "a@example.com"]) == 1
    assert capsys.readouterr().err == (
        "Justification (what the packages are for, who uses them): \n"
        "error: no answer (end of input); nothing was written\n"
    )
    assert not (root / "requests").exists()


def test_credentials_in_urls_are_not_copied_into_the_request(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Skipped index URLs and direct references are printed and committed: their user:token is not."""
    (root / "creds.txt").write_text(
        "--extra-index-url https://user:s3cret@upstream.example/simple\n"
        "httpx\n"
        "foo @ https://tok3n@upstream.example/foo-1.0-py3-none-any.whl\n"
    )
    (root / "Pipfile").write_text(
        '[[source]]\nname = "private"\nurl = "https://${USER}:p4ss@upstream.example/simple"\n'
        'verify_ssl = true\n\n[packages]\nrequests = "*"\n'
    )
    assert run(root, ["creds.txt", "Pipfile"]) == 0
    text = (root / "requests" / "2026-01-01-imported.yaml").read_text()
    printed = capsys.readouterr().err
    for secret in ("s3cret", "tok3n", "p4ss"):
        assert secret not in text
        assert secret not in printed
    assert "#   creds.txt:1: --extra-index-url https://***@upstream.example/simple: " in text
    assert "#   Pipfile:3: [[source]] private = https://***@upstream.example/simple: " in text


def test_output_to_stdout_or_into_a_directory(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (root / "r.txt").write_text("attrs>=23\n")
    assert run(root, ["r.txt"], out="-", title="Attrs for tools") == 0
    out, err = capsys.readouterr()
    assert out.startswith("# yaml-language-server: $schema=")
    assert "  - name: attrs  # r.txt:1\n" in out
    assert "wrote the request to standard output: 1 package(s) from 1 file(s)" in err
    assert not (root / "requests").exists()  # nothing written
    (root / "requests").mkdir()
    assert run(root, ["r.txt"], out="requests", title="Attrs for tools") == 0
    written = root / "requests" / "2026-01-01-attrs-for-tools.yaml"
    assert written.read_text() == out
    assert run(root, ["r.txt"], out="-", title="Attrs for tools") == 0  # printing never clashes


def test_the_request_flags_are_those_of_curate_new(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (root / "r.txt").write_text("attrs>=23\n")
    argv = ["import", "r.txt", "--justification", JUSTIFICATION, "--requested-by", "me@example.com"]
    argv += ["--compliance", "soc2", "--compliance", "pii", "--slug", "attrs", "--date", "2026-02-03"]
    argv += ["--platform", "linux,win", "--python", "3.12"]
    assert main(argv) == 0
    text = (root / "requests" / "2026-02-03-attrs.yaml").read_text()
    assert 'platforms: [linux, windows]\npython: ["3.12"]\ncompliance: [soc2, pii]\n' in text
    capsys.readouterr()
    assert main(argv) == 1
    assert capsys.readouterr().err.endswith(
        "error: requests/2026-02-03-attrs.yaml already exists; a request is never overwritten "
        "(choose another name with --slug or -o)\n"
    )
    assert main([*argv, "--slug", "Bad_Slug"]) == 2
    assert "error: --slug 'Bad_Slug' must match [a-z0-9-]+" in capsys.readouterr().err


def test_missing_values_without_a_terminal(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (root / "r.txt").write_text("attrs>=23\n")
    assert main(["import", "r.txt", "--requested-by", "me@example.com"]) == 2
    assert capsys.readouterr().err == (
        "error: --justification is required (stdin is not a terminal, so curate import cannot ask)\n"
    )
    assert not (root / "requests").exists()


def test_asks_for_the_justification_on_a_terminal(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The prompt goes to stderr: a request printed with -o - is the only thing on stdout."""
    (root / "r.txt").write_text("attrs>=23\n")
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: JUSTIFICATION)
    assert main(["import", "r.txt", "--requested-by", "me@example.com", "-o", "-"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("# yaml-language-server: $schema=../scripts/curate/data/request.schema.json\n")
    assert f"justification: {JUSTIFICATION}\n" in out
    assert err.startswith("Justification (what the packages are for, who uses them): ")
