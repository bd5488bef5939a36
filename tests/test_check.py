"""curate check: every rule of issue 2 section 5, with the exact message, position and hint."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from curate import cli
from curate.checking import check_files
from curate.lookalike import popular_projects
from curate.names import import_name_hint, import_names, normalize
from tests.conftest import REPO

CONFIG = """\
site:
  name: Test catalog
  base_url: http://127.0.0.1:8000/
python:
  supported: ["3.10", "3.11", "3.12", "3.13"]
  default: ["3.11", "3.12"]
platforms:
  default: [linux, windows]
targets:
  linux-x86_64: {os: linux, arch: x86_64, platform_tags: [manylinux_2_28_x86_64]}
  windows-amd64: {os: windows, arch: AMD64, platform_tags: [win_amd64]}
  macos-arm64: {os: macos, arch: arm64, platform_tags: [macosx_14_0_arm64]}
"""

GOOD = """\
title: Data tools
requested_by: a@example.com
justification: The analytics team needs these for the weekly reports.
packages:
  - name: numpy
    version: ">=1.26"
"""
JUST = "The analytics team needs these for the weekly reports."
HEAD = GOOD.split("packages:")[0]
NAME_HINT = "names use letters, digits, '.', '-' and '_', and start and end with a letter or digit"
ANCHOR_HINT = "write the value out in full; requests and the config never need anchors or aliases"
JUST_HINT = "say what the packages are for and why the catalog should carry them"
REF_HINT = "the catalog only serves vetted files from its index; give the distribution name and a version"
DUP_HINT = "merge the two entries into one"
PKG_DUP_HINT = DUP_HINT + " (or give each its own 'python:' versions, none in common)"
MAP_HINT = "write it as 'key: value' lines"
LIST_HINT = "write one '- ' entry per item"
STR_HINT = "write one text value (quote it if unsure)"
TITLE_HINT = "add title: one line saying what the request is for"

Expected = tuple[int, int, str, str]


def version(spec: str) -> str:
    return GOOD.replace('">=1.26"', spec)


def name(text: str) -> str:
    return GOOD.replace("name: numpy", f"name: {text}")


def justification(text: str) -> str:
    return GOOD.replace(JUST, text)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "config.yaml").write_text(CONFIG)
    (tmp_path / "requests").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def problems(root: Path, content: str | bytes, filename: str = "2026-11-21-test.yaml") -> list[Expected]:
    path = root / "requests" / filename
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    result = check_files(root, [path])
    assert {p.path for p in result.problems} <= {f"requests/{filename}"}
    return [(p.line, p.col, p.message, p.hint) for p in result.problems]


CASES: list[tuple[str, str | bytes, list[Expected]]] = [
    # -- YAML itself
    (
        "syntax-unclosed-flow",
        "title: [a\n",
        [
            (
                2,
                1,
                "YAML syntax error: while parsing a flow sequence expected ',' or ']', but got '<stream end>'",
                "close every '[' and '{' (or quote a value that starts with one)",
            )
        ],
    ),
    (
        "syntax-bad-indent",
        "title: a\n  b: c\n",
        [
            (
                2,
                4,
                "YAML syntax error: mapping values are not allowed here",
                "check the indentation of this line; quote a value that contains ': '",
            )
        ],
    ),
    (
        "syntax-tab",
        "title:\ta\n\tfoo: 1\n",
        [
            (
                1,
                7,
                "YAML syntax error: while scanning for the next token found character '\\t' that cannot start any token",
                "indent with spaces: YAML does not allow tabs",
            )
        ],
    ),
    (
        "duplicate-key",
        GOOD + "title: again\n",
        [
            (
                7,
                1,
                "duplicate key 'title' (first defined on line 1)",
                "keep one of them; YAML would silently use the last",
            )
        ],
    ),
    (
        "duplicate-key-in-package",
        GOOD + '    version: "<2"\n',
        [
            (
                7,
                5,
                "duplicate key 'version' (first defined on line 6)",
                "keep one of them; YAML would silently use the last",
            )
        ],
    ),
    (
        "duplicate-key-does-not-hide-the-rest",
        GOOD.replace("name: numpy", "name: cv2") + "title: again\n",
        [
            (
                5,
                5,
                "'cv2' is the import name; the distribution is 'opencv-python'",
                "write name: opencv-python",
            ),
            (
                7,
                1,
                "duplicate key 'title' (first defined on line 1)",
                "keep one of them; YAML would silently use the last",
            ),
        ],
    ),
    ("anchor", GOOD + "compliance: &a [x]\n", [(7, 13, "YAML anchor 'a' is not allowed", ANCHOR_HINT)]),
    (
        "alias",
        "title: &t x\nrequested_by: *t\n",
        [
            (1, 8, "YAML anchor 't' is not allowed", ANCHOR_HINT),
            (2, 15, "YAML alias 't' is not allowed", ANCHOR_HINT),
        ],
    ),
    ("empty", "", [(1, 1, "the request is empty", "run `curate new` to scaffold one")]),
    ("comment-only", "# nothing yet\n", [(1, 1, "the request is empty", "run `curate new` to scaffold one")]),
    ("top-level-list", "- a\n- b\n", [(1, 1, "a change request must be a mapping, not a list", MAP_HINT)]),
    ("top-level-string", "hello\n", [(1, 1, "a change request must be a mapping, not a string", MAP_HINT)]),
    # -- encoding and size
    (
        "latin-1",
        GOOD.encode().replace(b"Data", b"D\xe9ta"),
        [(1, 9, "not valid UTF-8 (byte 0xe9)", "save the file as UTF-8")],
    ),
    ("nul-byte", b"title: a\x00\n", [(1, 0, "file contains a NUL byte", "is it text?")]),
    (
        "over-1-mib",
        b"#" * (1024 * 1024 + 1),
        [
            (
                0,
                0,
                "file is 1,048,577 bytes; the limit is 1,048,576 (1 MiB)",
                "a change request lists packages; split a very large one into several requests",
            )
        ],
    ),
    ("utf-8-bom-is-fine", b"\xef\xbb\xbf" + GOOD.encode(), []),
    # -- keys and types
    (
        "unknown-key",
        GOOD + "platfroms: [linux]\n",
        [(7, 1, "unknown key 'platfroms' in a change request", "did you mean 'platforms'?")],
    ),
    (
        "unknown-key-case",
        GOOD + "Title: x\n",
        [(7, 1, "unknown key 'Title' in a change request", "did you mean 'title'?")],
    ),
    (
        "unknown-key-no-match",
        GOOD + "zzz: 1\n",
        [
            (
                7,
                1,
                "unknown key 'zzz' in a change request",
                "allowed keys: compliance, justification, packages, platforms, python, remove, requested_by, title",
            )
        ],
    ),
    (
        "unknown-package-key",
        GOOD.replace('version: ">=1.26"', 'versoin: ">=1.26"'),
        [(6, 5, "unknown key 'versoin' in packages[0]", "did you mean 'version'?")],
    ),
    (
        "unknown-remove-key",
        GOOD + "remove:\n  - name: requests\n    reasons: CVE-2024-1\n",
        [
            (
                8,
                5,
                "missing required field 'reason' in remove[0]",
                "say why the version leaves the catalog (a CVE, end of life, replaced by ...)",
            ),
            (9, 5, "unknown key 'reasons' in remove[0]", "did you mean 'reason'?"),
        ],
    ),
    (
        "title-list",
        GOOD.replace("title: Data tools", "title: [a, b]"),
        [(1, 1, "expected a string, got a list", STR_HINT)],
    ),
    (
        "title-empty",
        GOOD.replace("title: Data tools", "title: ''"),
        [(1, 1, "'title' must not be empty", "give it a value")],
    ),
    (
        "title-number",
        GOOD.replace("title: Data tools", "title: 42"),
        [(1, 1, "expected a string, got an integer 42", 'quote it: "42"')],
    ),
    (
        "title-bool",
        GOOD.replace("title: Data tools", "title: true"),
        [(1, 1, "expected a string, got a boolean", 'quote it: "true"')],
    ),
    (
        "packages-string",
        HEAD + "packages: numpy\n",
        [(4, 1, "packages must be a list, not a string", LIST_HINT)],
    ),
    (
        "packages-mapping",
        HEAD + "packages:\n  numpy: '>=1'\n",
        [(4, 1, "packages must be a list, not a mapping", LIST_HINT)],
    ),
    (
        "package-entry-string",
        HEAD + "packages:\n  - numpy>=1.2\n",
        [(5, 5, "package entries are mappings, not a string ('numpy>=1.2')", "write: - name: numpy")],
    ),
    (
        "package-entry-number",
        HEAD + "packages:\n  - 3\n",
        [(5, 5, "packages[0] must be a mapping, not an integer", MAP_HINT)],
    ),
    (
        "package-without-name",
        HEAD + "packages:\n  - version: '>=1'\n",
        [
            (
                5,
                5,
                "missing required field 'name' in packages[0]",
                "add name: the distribution name as on the index, e.g. name: pandas",
            )
        ],
    ),
    (
        "remove-entry-string",
        GOOD + "remove:\n  - numpy\n",
        [(8, 5, "remove[0] must be a mapping, not a string", MAP_HINT)],
    ),
    ("note-list", GOOD + "    note: [a]\n", [(7, 5, "expected a string, got a list", STR_HINT)]),
    (
        "compliance-mapping",
        GOOD + "compliance: {a: 1}\n",
        [(7, 1, "expected a list of strings, got a mapping", "write it as [a, b] or one '- a' per line")],
    ),
    (
        "missing-fields",
        "packages:\n  - name: numpy\n",
        [
            (
                1,
                1,
                "missing required field 'justification' in the request",
                "add justification: what the packages are for and who uses them (20+ characters)",
            ),
            (
                1,
                1,
                "missing required field 'requested_by' in the request",
                "add requested_by: your e-mail address or team handle",
            ),
            (1, 1, "missing required field 'title' in the request", TITLE_HINT),
        ],
    ),
    (
        "null-title",
        GOOD.replace("title: Data tools", "title:"),
        [(1, 1, "missing required field 'title' in the request", TITLE_HINT)],
    ),
    (
        "nothing-asked",
        HEAD,
        [
            (
                1,
                1,
                "the request neither adds nor removes anything",
                "add a 'packages:' list (or a 'remove:' list)",
            )
        ],
    ),
    ("empty-packages-list-is-explicit", HEAD + "packages: []\n", []),
    # -- names
    ("name-space", name("num py"), [(5, 5, "'num py' is not a valid distribution name", NAME_HINT)]),
    ("name-leading-dash", name("-numpy"), [(5, 5, "'-numpy' is not a valid distribution name", NAME_HINT)]),
    ("name-trailing-dot", name("numpy."), [(5, 5, "'numpy.' is not a valid distribution name", NAME_HINT)]),
    ("name-unicode", name("nümpy"), [(5, 5, "'nümpy' is not a valid distribution name", NAME_HINT)]),
    ("name-number", name("123"), [(5, 5, "expected a string, got an integer 123", 'quote it: "123"')]),
    (
        "title-date",
        GOOD.replace("title: Data tools", "title: 2026-01-01"),
        [(1, 1, "expected a string, got a date 2026-01-01", 'quote it: "2026-01-01"')],
    ),
    (
        "platforms-nested-list",
        GOOD.replace("packages:", "platforms: [[linux]]\npackages:") + "    platforms: [linux]\n",
        [(4, 13, "expected a string, got a list", STR_HINT)],
    ),
    (
        "name-with-version",
        name("numpy>=1.2"),
        [(5, 5, "'numpy>=1.2' has a version in the name", 'write name: numpy and version: ">=1.2"')],
    ),
    (
        "name-with-pin",
        name("numpy==1.2"),
        [(5, 5, "'numpy==1.2' has a version in the name", 'write name: numpy and version: "==1.2"')],
    ),
    ("name-extras-ok", name("uvicorn[standard]"), []),
    ("name-dots-underscores-ok", name("zope.interface"), []),
    (
        "duplicate-case",
        GOOD + "  - name: NumPy\n",
        [(7, 5, "'NumPy' is listed twice in packages (both are 'numpy'; first on line 5)", PKG_DUP_HINT)],
    ),
    (
        "duplicate-pep503",
        name("zope.interface") + "  - name: Zope_Interface\n",
        [
            (
                7,
                5,
                "'Zope_Interface' is listed twice in packages (both are 'zope-interface'; first on line 5)",
                PKG_DUP_HINT,
            )
        ],
    ),
    (
        "duplicate-runs",
        name("a-b") + "  - name: A__B\n  - name: a.b\n",
        [
            (7, 5, "'A__B' is listed twice in packages (both are 'a-b'; first on line 5)", PKG_DUP_HINT),
            (8, 5, "'a.b' is listed twice in packages (both are 'a-b'; first on line 5)", PKG_DUP_HINT),
        ],
    ),
    (
        "duplicate-removal",
        GOOD
        + "remove:\n  - {name: six, version: '<1', reason: old}\n  - {name: Six, version: '<1', reason: old}\n",
        [(9, 6, "'Six' is listed twice in remove (both are 'six'; first on line 8)", DUP_HINT)],
    ),
    (
        "removal-different-versions-ok",
        GOOD
        + "remove:\n  - {name: six, version: '<1', reason: old}\n  - {name: six, version: '==1.2', reason: CVE}\n",
        [],
    ),
    # -- versions
    ("version-gte", version('">=1.2"'), []),
    ("version-range", version('">=1.2,<2"'), []),
    ("version-compatible", version('"~=1.4"'), []),
    ("version-not-equal", version('"!=1.3"'), []),
    ("version-lt-le-gt", version('"<3, <=2.9, >1"'), []),
    ("version-wildcard", version('"==1.4.*"'), []),
    ("version-arbitrary", version('"===1.0+local"'), []),
    ("version-star-latest", version('"*"'), []),
    ("version-latest-word", version("latest"), []),
    ("version-empty", version('""'), []),
    ("version-null", version(""), []),
    ("version-absent", GOOD.replace('    version: ">=1.26"\n', ""), []),
    (
        "version-bare",
        version('"1.2.3"'),
        [
            (
                6,
                5,
                "'1.2.3' is a bare version, not a specifier",
                "write '==1.2.3' to pin it, or '>=1.2.3' for a minimum",
            )
        ],
    ),
    (
        "version-bare-unquoted",
        version("1.2.3"),
        [
            (
                6,
                5,
                "'1.2.3' is a bare version, not a specifier",
                "write '==1.2.3' to pin it, or '>=1.2.3' for a minimum",
            )
        ],
    ),
    (
        "version-bare-v",
        version("v2.0"),
        [
            (
                6,
                5,
                "'v2.0' is a bare version, not a specifier",
                "write '==2.0' to pin it, or '>=2.0' for a minimum",
            )
        ],
    ),
    (
        "version-number",
        version("1.2"),
        [(6, 5, "version 1.2 is a number, not a specifier", 'write version: "==1.2" (quoted)')],
    ),
    (
        "version-int",
        version("2"),
        [(6, 5, "version 2 is a number, not a specifier", 'write version: "==2" (quoted)')],
    ),
    (
        "poetry-caret",
        version('"^1.2"'),
        [
            (
                6,
                5,
                "'^1.2' is Poetry syntax, not a PEP 440 specifier",
                "write '>=1.2.0,<2' (the PEP 440 equivalent)",
            )
        ],
    ),
    (
        "poetry-caret-zero",
        version('"^0.2.3"'),
        [
            (
                6,
                5,
                "'^0.2.3' is Poetry syntax, not a PEP 440 specifier",
                "write '>=0.2.3,<0.3' (the PEP 440 equivalent)",
            )
        ],
    ),
    (
        "poetry-tilde",
        version('"~1.2.3"'),
        [
            (
                6,
                5,
                "'~1.2.3' is Poetry syntax, not a PEP 440 specifier",
                "write '>=1.2.3,<1.3' (the PEP 440 equivalent)",
            )
        ],
    ),
    (
        "poetry-tilde-major",
        version('"~1"'),
        [
            (
                6,
                5,
                "'~1' is Poetry syntax, not a PEP 440 specifier",
                "write '>=1.0.0,<2' (the PEP 440 equivalent)",
            )
        ],
    ),
    (
        "version-garbage",
        version('">=banana"'),
        [
            (
                6,
                5,
                "invalid version specifier '>=banana'",
                "use PEP 440, e.g. '>=2.2', '==1.4.*', '~=3.1', '>=1,<2'",
            )
        ],
    ),
    (
        "version-wildcard-with-gte",
        version('">=1.*"'),
        [
            (
                6,
                5,
                "invalid version specifier '>=1.*'",
                "a wildcard goes only with '==' or '!=': use PEP 440, e.g. '>=2.2', '==1.4.*', '~=3.1', '>=1,<2'",
            )
        ],
    ),
    (
        "version-wildcard-without-operator",
        version('"1.4.*"'),
        [(6, 5, "invalid version specifier '1.4.*'", "write '==1.4.*' (a wildcard needs '==' or '!=')")],
    ),
    (
        "version-single-equals",
        version('"=1.4"'),
        [(6, 5, "invalid version specifier '=1.4'", "write '==1.4' (PEP 440 compares with '==')")],
    ),
    (
        "version-compatible-one-part",
        version('"~=2"'),
        [
            (
                6,
                5,
                "invalid version specifier '~=2'",
                "'~=' needs two version parts: write '~=2.0' (that is >=2.0,<3)",
            )
        ],
    ),
    (
        "version-poetry-or",
        version('"==1.0 || ==2.0"'),
        [
            (
                6,
                5,
                "invalid version specifier '==1.0 || ==2.0'",
                "'||' (or) is Poetry syntax and PEP 440 has no 'or': write the one range you need, e.g. '>=1,<3'",
            )
        ],
    ),
    # -- markers and direct references
    (
        "marker-in-name",
        name("'numpy; python_version < \"3.10\"'"),
        [
            (
                5,
                5,
                "environment markers are not allowed: 'numpy; python_version < \"3.10\"'",
                "OS and Python belong in the request's 'platforms' and 'python' (or the package's own)",
            )
        ],
    ),
    (
        "marker-in-version",
        version("'>=1.2; sys_platform == \"win32\"'"),
        [
            (
                6,
                5,
                "environment markers are not allowed: '>=1.2; sys_platform == \"win32\"'",
                "OS and Python belong in 'platforms' and 'python' (the request's or the package's)",
            )
        ],
    ),
    (
        "direct-url",
        name("numpy @ https://files.example/numpy-2.0-py3-none-any.whl"),
        [
            (
                5,
                5,
                "direct references are not allowed: 'numpy @ https://files.example/numpy-2.0-py3-none-any.whl'",
                REF_HINT,
            )
        ],
    ),
    (
        "git-url",
        name("git+https://git.example/numpy.git"),
        [(5, 5, "direct references are not allowed: 'git+https://git.example/numpy.git'", REF_HINT)],
    ),
    (
        "local-path",
        name("./dist/numpy-1.0.tar.gz"),
        [(5, 5, "direct references are not allowed: './dist/numpy-1.0.tar.gz'", REF_HINT)],
    ),
    (
        "local-wheel",
        name("numpy-2.0-py3-none-any.whl"),
        [(5, 5, "direct references are not allowed: 'numpy-2.0-py3-none-any.whl'", REF_HINT)],
    ),
    (
        "url-in-version",
        version('"@ https://files.example/x.whl"'),
        [
            (
                6,
                5,
                "direct references are not allowed: '@ https://files.example/x.whl'",
                "the catalog only serves vetted files from its index; use a PEP 440 specifier",
            )
        ],
    ),
    # -- platforms and python
    (
        "platform-win",
        GOOD + "platforms: [win]\n",
        [(7, 13, "unknown platform 'win'", "did you mean 'windows'?")],
    ),
    (
        "platform-osx",
        GOOD + "platforms: [linux, osx]\n",
        [(7, 20, "unknown platform 'osx'", "did you mean 'macos'?")],
    ),
    (
        "platform-darwin",
        GOOD + "platforms: [darwin]\n",
        [(7, 13, "unknown platform 'darwin'", "did you mean 'macos'?")],
    ),
    (
        "platform-win32",
        GOOD + "platforms: [win32]\n",
        [(7, 13, "unknown platform 'win32'", "did you mean 'windows'?")],
    ),
    (
        "platform-typo",
        GOOD + "platforms: [linx]\n",
        [(7, 13, "unknown platform 'linx'", "did you mean 'linux'?")],
    ),
    (
        "platform-bsd",
        GOOD + "platforms: [freebsd]\n",
        [(7, 13, "unknown platform 'freebsd'", "choose from: linux, macos, windows")],
    ),
    ("platform-single-string-ok", GOOD + "platforms: linux\n", []),
    (
        "platforms-empty",
        GOOD + "platforms: []\n",
        [(7, 1, "platforms must not be empty", "choose from: linux, windows, macos")],
    ),
    (
        "package-platform-outside-request",
        GOOD + "    platforms: [macos]\nplatforms: [linux]\n",
        [
            (
                7,
                5,
                "platform 'macos' is not one of the request's platforms (linux)",
                "add it to the request's 'platforms' too",
            )
        ],
    ),
    ("python-ok", GOOD + 'python: ["3.13", "3.10"]\n', []),
    ("package-python-ok", GOOD + '    python: ["3.11"]\npython: ["3.11", "3.12"]\n', []),
    ("package-python-single-ok", GOOD + '    python: "3.12"\n', []),
    (
        "package-python-outside-request",
        GOOD + '    python: ["3.13"]\npython: ["3.11", "3.12"]\n',
        [
            (
                7,
                14,
                "Python 3.13 is not one of the request's Python versions (3.11, 3.12)",
                "add it to the request's 'python' too",
            )
        ],
    ),
    (
        "package-python-unsupported",
        GOOD + '    python: ["3.8"]\n',
        [(7, 14, "Python 3.8 is not supported by this catalog", "supported: 3.10, 3.11, 3.12, 3.13")],
    ),
    (
        "package-python-unquoted",
        GOOD + "    python: [3.10]\n",
        [(7, 14, "Python version 3.10 must be quoted (YAML reads 3.10 as the number 3.1)", 'write "3.10"')],
    ),
    (
        "same-package-per-python-ok",
        GOOD.replace('">=1.26"', '"==2.4.6"')
        + '    python: ["3.11"]\n  - name: numpy\n    version: "==2.5.5"\n    python: ["3.12"]\n'
        + 'python: ["3.11", "3.12"]\n',
        [],
    ),
    (
        "same-package-overlapping-python",
        GOOD + '    python: ["3.11", "3.12"]\n  - name: numpy\n    python: ["3.12"]\n',
        [(8, 5, "'numpy' is listed twice in packages (both are 'numpy'; first on line 5)", PKG_DUP_HINT)],
    ),
    (
        "python-unsupported",
        GOOD + 'python: ["3.8"]\n',
        [(7, 10, "Python 3.8 is not supported by this catalog", "supported: 3.10, 3.11, 3.12, 3.13")],
    ),
    (
        "python-future",
        GOOD + 'python: "3.15"\n',
        [(7, 1, "Python 3.15 is not supported by this catalog", "supported: 3.10, 3.11, 3.12, 3.13")],
    ),
    (
        "python-unquoted",
        GOOD + "python: [3.10]\n",
        [(7, 10, "Python version 3.10 must be quoted (YAML reads 3.10 as the number 3.1)", 'write "3.10"')],
    ),
    (
        "python-empty",
        GOOD + "python: []\n",
        [(7, 1, "python must not be empty", "leave it out to use the catalog's default versions")],
    ),
    # -- justification and removals
    (
        "justification-short",
        justification("for reports"),
        [
            (
                3,
                1,
                "justification is 11 characters; at least 20 are needed",
                "say what the packages are for and who uses them, so a reviewer can approve it",
            )
        ],
    ),
    ("justification-tbd", justification("TBD"), [(3, 1, "justification 'TBD' is a placeholder", JUST_HINT)]),
    ("justification-na", justification("n/a"), [(3, 1, "justification 'n/a' is a placeholder", JUST_HINT)]),
    ("justification-dash", justification("'-'"), [(3, 1, "justification '-' is a placeholder", JUST_HINT)]),
    (
        "justification-test",
        justification("test"),
        [(3, 1, "justification 'test' is a placeholder", JUST_HINT)],
    ),
    (
        "justification-todo-dot",
        justification("TODO."),
        [(3, 1, "justification 'TODO.' is a placeholder", JUST_HINT)],
    ),
    (
        "justification-blank",
        justification("'   '"),
        [(3, 1, "'justification' must not be empty", "give it a value")],
    ),
    (
        "remove-without-reason",
        GOOD + "remove:\n  - name: requests\n    version: '<2.0'\n",
        [
            (
                8,
                5,
                "missing required field 'reason' in remove[0]",
                "say why the version leaves the catalog (a CVE, end of life, replaced by ...)",
            )
        ],
    ),
    (
        "remove-only-ok",
        HEAD + "remove:\n  - name: requests\n    version: '<2.0'\n    reason: CVE-2024-35195\n",
        [],
    ),
]


@pytest.mark.parametrize(("content", "expected"), [pytest.param(c, e, id=i) for i, c, e in CASES])
def test_problems(root: Path, content: str | bytes, expected: list[Expected]) -> None:
    assert problems(root, content) == expected


def test_every_problem_has_a_hint() -> None:
    """Issue 2: each problem is reported with a hint, not only a message."""
    without = [(case_id, message) for case_id, _, exp in CASES for _, _, message, hint in exp if not hint]
    assert without == []


IMPORT_NAMES = [
    ("yaml", "PyYAML"),
    ("cv2", "opencv-python"),
    ("sklearn", "scikit-learn"),
    ("PIL", "pillow"),
    ("MySQLdb", "mysqlclient"),
    ("bs4", "beautifulsoup4"),
    ("dateutil", "python-dateutil"),
    ("jwt", "PyJWT"),
    ("Crypto", "pycryptodome"),
    ("attr", "attrs"),
]


@pytest.mark.parametrize(("module", "dist"), IMPORT_NAMES)
def test_import_names(root: Path, module: str, dist: str) -> None:
    assert problems(root, name(module)) == [
        (5, 5, f"'{module}' is the import name; the distribution is '{dist}'", f"write name: {dist}")
    ]


@pytest.mark.parametrize(
    "dist", ["PyYAML", "opencv-python", "scikit-learn", "pillow", "attrs", "requests", "six"]
)
def test_real_distributions_pass(root: Path, dist: str) -> None:
    assert problems(root, name(dist)) == []


@pytest.mark.parametrize(
    "dist", ["docopt", "crcmod", "pyspark", "jupyter", "ansible", "pydantic-ai", "tox-uv", "htmlmin"]
)
def test_a_popular_distribution_is_not_taken_for_an_import_name(root: Path, dist: str) -> None:
    """Real distributions whose module comes in an sdist only (docopt, crcmod, pyspark) or through a
    dependency (jupyter, pydantic-ai) were refused as 'the import name' of a look-alike (docopt-ng)."""
    assert problems(root, name(dist)) == []


def test_only_chosen_popular_names_keep_an_import_name_hint() -> None:
    """The generated table names a popular distribution only where tools/gen_import_names.py says so:
    the names people mistype (ALWAYS) and the popular distributions that are another project (MISLEADING)."""
    popular = popular_projects()
    kept = {k for k in import_names() if normalize(k) in popular}
    chosen = {"yaml", "cv2", "sklearn", "PIL", "MySQLdb", "bs4", "dateutil", "jwt", "Crypto", "attr"}
    assert kept <= chosen | {"dotenv", "bson", "Bio"}
    assert import_name_hint("dotenv") == "python-dotenv"


def test_removal_import_name(root: Path) -> None:
    text = GOOD + "remove:\n  - name: sklearn\n    reason: the catalog never carried it\n"
    assert problems(root, text) == [
        (8, 5, "'sklearn' is the import name; the distribution is 'scikit-learn'", "write name: scikit-learn")
    ]


def test_entries_keep_their_line(root: Path) -> None:
    """A package or removal entry knows its line, so a later stage (lock) can point at it."""
    text = GOOD + "  - name: pandas\n\nremove:\n  - name: scipy\n    reason: superseded by numpy\n"
    path = root / "requests" / "2026-11-21-test.yaml"
    path.write_text(text, "utf-8")
    (request,) = check_files(root, [path]).parsed
    assert [(s.name, s.line) for s in request.packages] == [("numpy", 5), ("pandas", 7)]
    assert [(r.name, r.line) for r in request.remove] == [("scipy", 10)]


@pytest.mark.parametrize(
    ("filename", "message", "hint"),
    [
        ("2026-11-21-data-tools.yaml", None, None),
        (
            "2026-13-01-x.yaml",
            "file name date '2026-13-01' is not a valid date",
            "use the date the request was made, YYYY-MM-DD",
        ),
        (
            "2026-02-30-x.yaml",
            "file name date '2026-02-30' is not a valid date",
            "use the date the request was made, YYYY-MM-DD",
        ),
        (
            "2026-11-21-Bad_Slug.yaml",
            "file name '2026-11-21-Bad_Slug.yaml' is not YYYY-MM-DD-slug.yaml",
            "name it like requests/2026-11-21-bad-slug.yaml",
        ),
        (
            "2026-11-21-x.yml",
            "file name '2026-11-21-x.yml' is not YYYY-MM-DD-slug.yaml",
            "use the .yaml extension; name it like requests/2026-11-21-x.yaml",
        ),
        (
            "2026-11-21-.yaml",
            "file name '2026-11-21-.yaml' is not YYYY-MM-DD-slug.yaml",
            "name it like requests/2026-11-21-request.yaml",
        ),
        (
            "2026-11-21-a b.yaml",
            "file name '2026-11-21-a b.yaml' is not YYYY-MM-DD-slug.yaml",
            "name it like requests/2026-11-21-a-b.yaml",
        ),
    ],
)
def test_file_names(root: Path, filename: str, message: str | None, hint: str | None) -> None:
    expected = [] if message is None else [(0, 0, message, hint)]
    assert problems(root, GOOD, filename) == expected


def test_file_name_hint_never_suggests_an_invalid_date(root: Path) -> None:
    [(_, _, message, hint)] = problems(root, GOOD, "2026-13-40-Bad_Slug.yaml")
    assert message == "file name '2026-13-40-Bad_Slug.yaml' is not YYYY-MM-DD-slug.yaml"
    assert "2026-13-40" not in hint
    assert hint.endswith("-bad-slug.yaml")


def test_file_name_without_date(root: Path) -> None:
    [(line, col, message, hint)] = problems(root, GOOD, "notes.yaml")
    assert (line, col, message) == (0, 0, "file name 'notes.yaml' is not YYYY-MM-DD-slug.yaml")
    assert hint.startswith("name it like requests/2")
    assert hint.endswith("-notes.yaml")


def test_alias_bomb_is_refused_without_expansion(root: Path) -> None:
    # billion laughs: ten levels of ten aliases would be 10**10 strings if expanded
    lines = ['a0: &a0 ["lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 11)]
    start = time.perf_counter()
    found = problems(root, "\n".join(lines) + "\n")
    elapsed = time.perf_counter() - start
    assert found[0] == (1, 5, "YAML anchor 'a0' is not allowed", ANCHOR_HINT)
    assert found[1] == (2, 5, "YAML anchor 'a1' is not allowed", ANCHOR_HINT)
    assert len(found) == 20  # capped: one run stays readable
    print(f"alias bomb refused in {elapsed:.3f}s")


def test_everything_in_one_run(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (root / "requests" / "2026-11-21-one.yaml").write_text(name("cv2"))
    (root / "requests" / "2026-11-21-two.yaml").write_text(justification("TBD") + "platforms: [osx]\n")
    (root / "requests" / "2026-11-21-ok.yaml").write_text(GOOD)
    assert cli.main(["check"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "requests/2026-11-21-one.yaml:5:5: 'cv2' is the import name; the distribution is 'opencv-python'\n"
        "    hint: write name: opencv-python\n"
        "requests/2026-11-21-two.yaml:3:1: justification 'TBD' is a placeholder\n"
        f"    hint: {JUST_HINT}\n"
        "requests/2026-11-21-two.yaml:7:13: unknown platform 'osx'\n"
        "    hint: did you mean 'macos'?\n"
        "3 problem(s) in 2 of 4 file(s)\n"
    )


def test_clean_summary(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (root / "requests" / "2026-11-21-ok.yaml").write_text(GOOD)
    (root / "requests" / "2026-11-22-ok.yaml").write_text(name("scikit-learn"))
    assert cli.main(["check"]) == 0
    assert capsys.readouterr() == ("checked 3 file(s): 2 request(s), all valid\n", "")
    assert cli.main(["check", "-q"]) == 0
    assert capsys.readouterr() == ("", "")
    assert cli.main(["check", "requests/2026-11-21-ok.yaml"]) == 0
    assert capsys.readouterr().out == "checked 1 file(s): 1 request(s), all valid\n"


def test_root_option(
    root: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / "requests" / "2026-11-21-ok.yaml").write_text(GOOD)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(elsewhere)
        assert cli.main(["-C", str(root), "check"]) == 0
    assert capsys.readouterr().out == "checked 2 file(s): 1 request(s), all valid\n"


def test_github_annotations(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    (root / "requests" / "2026-11-21-one.yaml").write_text(name("cv2") + "platforms: [win]\n")
    (root / "requests" / "not-dated.yaml").write_text(GOOD)
    assert cli.main(["check", "requests/2026-11-21-one.yaml", "requests/not-dated.yaml"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "::error file=requests/2026-11-21-one.yaml,line=5,col=5::'cv2' is the import name; the distribution is "
        "'opencv-python' (hint: write name: opencv-python)",
        "::error file=requests/2026-11-21-one.yaml,line=7,col=13::unknown platform 'win' (hint: did you mean 'windows'?)",
        "::error file=requests/not-dated.yaml::file name 'not-dated.yaml' is not YYYY-MM-DD-slug.yaml (hint: "
        f"name it like requests/{out.split('requests/')[-1].split(')')[0]})",
    ]
    assert err.endswith("3 problem(s) in 2 of 2 file(s)\n")


def test_no_annotations_outside_actions(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    (root / "requests" / "2026-11-21-one.yaml").write_text(name("cv2"))
    assert cli.main(["check"]) == 1
    assert capsys.readouterr().out == ""


def test_config_problems_are_reported_with_requests(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (root / "catalog" / "config.yaml").write_text(CONFIG + "sites: {}\n")
    (root / "requests" / "2026-11-21-ok.yaml").write_text(GOOD)
    assert cli.main(["check"]) == 1
    assert capsys.readouterr().err == (
        "catalog/config.yaml:13:1: unknown key 'sites' in the catalog config\n"
        "    hint: did you mean 'site'?\n"
        "1 problem(s) in 1 of 2 file(s)\n"
    )
    # checking only a request still says that the config is broken
    assert cli.main(["check", "requests/2026-11-21-ok.yaml"]) == 1
    assert capsys.readouterr().err == (
        "catalog/config.yaml: the catalog config has problems; requests are checked against the defaults\n"
        "    hint: run: curate check catalog/config.yaml\n"
        "1 problem(s) in 1 of 1 file(s)\n"
    )


def test_missing_file(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "requests/2026-11-21-nope.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("requests/2026-11-21-nope.yaml: cannot read file: No such file or directory\n")


def test_check_never_modifies_files(root: Path) -> None:
    folder = root / "requests"
    for i, (_ident, content, _expected) in enumerate(CASES):
        path = folder / f"2026-11-21-case-{i}.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}
    assert cli.main(["check"]) == 1
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}
    assert after == before


def test_repository_examples_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-C", str(REPO), "check", "-q"]) == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(("content", "expected"), [pytest.param(c, e, id=i) for i, c, e in CASES])
def test_libyaml_fast_path_matches_the_strict_reader(
    monkeypatch: pytest.MonkeyPatch, content: str | bytes, expected: list[Expected]
) -> None:
    from curate import yamlio

    raw = content if isinstance(content, bytes) else content.encode()
    fast_doc, fast_problems = yamlio.loads(raw, "x.yaml")
    monkeypatch.setattr(yamlio, "_LIBYAML", None)
    slow_doc, slow_problems = yamlio.loads(raw, "x.yaml")
    assert fast_problems == slow_problems
    assert (fast_doc is None) == (slow_doc is None)
    if fast_doc is not None and slow_doc is not None:
        assert (fast_doc.data, fast_doc.marks, fast_doc.texts) == (
            slow_doc.data,
            slow_doc.marks,
            slow_doc.texts,
        )


# Plain scalars the fast path resolves itself (ruamel's YAML 1.2 rules) or hands to ruamel.
SCALARS = [
    *("plain", "numpy", "", "~", "null", "Null", "NULL", "nULL", "none", "n", "y", "yes", "no", "on", "off"),
    *("true", "True", "TRUE", "tRUE", "false", "False", "FALSE", "truthy"),
    *("0", "-0", "+0", "7", "-12", "+12", "007", "012", "08", "0o17", "0x1F", "0b101", "1_000", "-_", "_1"),
    *("3.10", "-0.0", "+1.5", "1.", ".5", "-.5", "1e3", "1.5e-3", "1E+3", "1_0.5", ".inf", "-.Inf", ".nan"),
    *("9" * 5000, "1" * 400 + ".5", "3.11.2", ">=1.0", "1.0.post1", "12:30", "1:2:3", "<<", "=", "-", "."),
    *("2026-12-31", "2026-02-30", "2026-13-01", "0000-01-01", "2026-1-2", "2026-12-31T10:11:12"),
    *("2026-12-31 10:11:12.5 +01:00", "2026-12-31t10:11:12Z", "20261231", "2026-12-31x"),
    *("'12'", '"1.5"', "! 12", "!!str 12", "|-\n  7", "x\n\n  2"),
]


@pytest.mark.parametrize("scalar", SCALARS, ids=[repr(s)[:30] for s in SCALARS])
def test_libyaml_fast_path_resolves_scalars_as_the_strict_reader(
    monkeypatch: pytest.MonkeyPatch, scalar: str
) -> None:
    from curate import yamlio

    raw = f"value: {scalar}\nitems:\n  - {scalar}\n  - [{scalar}]\n{scalar}: as a key\n".encode()
    fast_doc, fast_problems = yamlio.loads(raw, "x.yaml")
    monkeypatch.setattr(yamlio, "_LIBYAML", None)
    slow_doc, slow_problems = yamlio.loads(raw, "x.yaml")
    assert fast_problems == slow_problems
    assert (fast_doc is None) == (slow_doc is None)
    if fast_doc is not None and slow_doc is not None:  # repr: tells 1 from True, -0.0 from 0.0, nan from nan
        assert repr((fast_doc.data, fast_doc.marks, fast_doc.texts)) == repr(
            (slow_doc.data, slow_doc.marks, slow_doc.texts)
        )


def test_a_directory_stands_for_its_request_files(root: Path) -> None:
    (root / "requests" / "2026-11-21-good.yaml").write_text(GOOD)
    (root / "requests" / "2026-11-21-bad.yaml").write_text(name("cv2"))
    result = check_files(root, [Path("requests")])
    assert result.checked == 2
    assert [(p.path, p.message) for p in result.problems] == [
        ("requests/2026-11-21-bad.yaml", "'cv2' is the import name; the distribution is 'opencv-python'")
    ]


def test_a_missing_file_is_one_problem(root: Path) -> None:
    result = check_files(root, [Path("requests/typo.yaml")])
    assert [(p.path, p.message) for p in result.problems] == [
        ("requests/typo.yaml", "cannot read file: No such file or directory")
    ]


def test_no_config_says_where_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    [problem] = check_files(tmp_path, []).problems
    assert (problem.message, problem.hint) == (
        "catalog config not found",
        "run curate in the catalog repository's root, or pass -C DIR",
    )


# -- files that must not be read (issue 13, item 12) -------------------------------------------------------


def _curate(root: Path, *args: str) -> tuple[int, str]:
    """curate in a process of its own, with a deadline: a read that never ends fails the test instead of
    hanging it (the deadline is generous; nothing measures time)."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "curate", "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("target", "kind"), [("/dev/zero", "a character device"), ("/dev/urandom", "a character device")]
)
def test_check_refuses_a_device(root: Path, target: str, kind: str) -> None:
    link = root / "requests" / "2026-11-21-dev.yaml"
    link.symlink_to(target)
    code, out = _curate(root, "check", str(link))
    assert code == 1
    assert f"requests/2026-11-21-dev.yaml: not a regular file ({kind}): not read" in out
    code, out = _curate(root, "check")  # found in requests/ too
    assert code == 1
    assert f"not a regular file ({kind})" in out


def test_check_lock_and_build_refuse_a_fifo(root: Path) -> None:
    import os

    (root / "requests" / "2026-11-21-good.yaml").write_text(GOOD)
    fifo = root / "requests" / "2026-11-21-pipe.yaml"
    os.mkfifo(fifo)
    code, out = _curate(root, "check", str(fifo))
    assert (code, out.splitlines()[0]) == (
        1,
        "requests/2026-11-21-pipe.yaml: not a regular file (a FIFO): not read",
    )
    code, out = _curate(root, "check")
    assert code == 1
    assert "requests/2026-11-21-pipe.yaml: not a regular file (a FIFO)" in out
    for args in (("lock", "--check"), ("lock",)):  # never blocks on the FIFO
        code, out = _curate(root, *args)
        assert code == 1
        assert "requests/2026-11-21-pipe.yaml" in out


def test_a_symlink_leaving_the_repository_is_not_read(
    root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secrets.yaml"
    outside.write_text("title: hunter2\naws_secret_access_key: AKIAEXAMPLE\n")
    link = root / "requests" / "2026-11-21-link.yaml"
    link.symlink_to(outside)
    for args in (("check", str(link)), ("check",), ("lock",)):
        code, out = _curate(root, *args)
        assert code == 1, args
        assert (
            "requests/2026-11-21-link.yaml: a symbolic link to a file outside the repository: not read" in out
        )
        assert "hunter2" not in out
        assert "aws_secret_access_key" not in out
        assert str(outside) not in out
    # a link that stays inside the repository is read as the file it points to
    inside = root / "shared-request.yaml"
    inside.write_text(GOOD)
    link.unlink()
    link.symlink_to(inside)
    assert _curate(root, "check", str(link)) == (0, "checked 1 file(s): 1 request(s), all valid\n")


def test_import_refuses_a_device(root: Path) -> None:
    code, out = _curate(
        root,
        "import",
        "--title",
        "x",
        "--requested-by",
        "a@example.com",
        "--justification",
        JUST,
        "-o",
        "-",
        "/dev/zero",
    )
    assert code == 1
    assert "/dev/zero" in out
    assert "not a regular file (a character device)" in out


# -- invisible characters (issue 13, item 10) --------------------------------------------------------------

HIDDEN_HINT = "delete them (retype the text around them if unsure)"
HIDDEN_TAIL = "; they hide or reorder text, so reviewers would not read what is there"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            GOOD.replace("title: Data tools", "title: Data tools \u202egpj.exe"),
            [
                (
                    1,
                    19,
                    f"invisible character in title: U+202E Right-To-Left Override{HIDDEN_TAIL}",
                    HIDDEN_HINT,
                )
            ],
        ),
        (
            GOOD.replace("needs these", "needs\u200b\u200d these"),
            [
                (
                    3,
                    40,
                    "invisible characters in justification: U+200B Zero Width Space, U+200D Zero Width Joiner"
                    + HIDDEN_TAIL,
                    HIDDEN_HINT,
                )
            ],
        ),
        (
            GOOD + "    note: ok \u2066hidden\u2069 \U000e0041\n",
            [
                (
                    7,
                    14,
                    f"invisible character in packages[0].note: U+2066 Left-To-Right Isolate{HIDDEN_TAIL}",
                    HIDDEN_HINT,
                ),
                (
                    7,
                    21,
                    f"invisible character in packages[0].note: U+2069 Pop Directional Isolate{HIDDEN_TAIL}",
                    HIDDEN_HINT,
                ),
                (
                    7,
                    23,
                    f"invisible character in packages[0].note: U+E0041 Tag Latin Capital Letter A{HIDDEN_TAIL}",
                    HIDDEN_HINT,
                ),
            ],
        ),
        (  # written as a YAML escape: found in the value, placed at its key
            GOOD.replace("title: Data tools", 'title: "Data tools \\u202e"'),
            [
                (
                    1,
                    1,
                    f"invisible character in title (written as an escape): U+202E Right-To-Left Override{HIDDEN_TAIL}",
                    HIDDEN_HINT,
                )
            ],
        ),
    ],
)
def test_invisible_characters_are_reported_where_they_are(
    root: Path, content: str, expected: list[Expected]
) -> None:
    assert problems(root, content) == expected


def test_invisible_characters_in_the_config(root: Path) -> None:
    config = root / "catalog" / "config.yaml"
    config.write_text(CONFIG.replace("name: Test catalog", "name: Test \u202ecatalog"))
    result = check_files(root, [config])
    assert [(p.path, p.line, p.col, p.key) for p in result.problems] == [
        ("catalog/config.yaml", 2, 14, "site.name")
    ]


def test_lock_check_hashes_a_locked_request_without_reading_a_fifo(root: Path) -> None:
    """A locked request replaced by a FIFO (or a link out of the repository): lock --check, which
    hashes each locked request's bytes, reports it as not valid instead of blocking or reading it."""
    import os

    from curate.config import load_config
    from curate.lockstate import Freshness, LockState, RequestState, freshness

    config = load_config(root)
    state = LockState(
        config="x",
        requests={
            "2026-11-21-pipe": RequestState(
                path="requests/2026-11-21-pipe.yaml", sha256="0" * 64, fingerprint="f", pins=()
            ),
            "2026-11-21-out": RequestState(
                path="requests/2026-11-21-out.yaml", sha256="0" * 64, fingerprint="f", pins=()
            ),
        },
    )
    os.mkfifo(root / "requests" / "2026-11-21-pipe.yaml")
    outside = root.parent / "outside.yaml"
    outside.write_text(GOOD)
    (root / "requests" / "2026-11-21-out.yaml").symlink_to(outside)
    import threading

    got: list[object] = []
    reader = threading.Thread(target=lambda: got.append(freshness(root, config, state)), daemon=True)
    reader.start()
    reader.join(60)  # a deadline, not a measurement: the check must not block on the FIFO at all
    if reader.is_alive():  # release the blocked reader (a writer that closes gives it end of file)
        os.close(os.open(root / "requests" / "2026-11-21-pipe.yaml", os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("lock --check blocked reading a FIFO")
    (fresh,) = got
    assert isinstance(fresh, Freshness)
    invalid = {s.path: s.message for s in fresh.stale if s.kind == "invalid"}
    assert invalid == {
        "requests/2026-11-21-out.yaml": "not valid (see: curate check requests/2026-11-21-out.yaml)",
        "requests/2026-11-21-pipe.yaml": "not valid (see: curate check requests/2026-11-21-pipe.yaml)",
    }


# -- control characters and line breaks (tester's report: raw NUL, BEL, ESC in the pages) --------------------

LINE_HINT = "write it as one line of plain text, without escapes such as \\n, \\t, \\0 or \\e"
FREE_TAIL = "; free text may hold line breaks and tabs, but no other control character and no noncharacter"
FREE_HINT = "delete them (in a double-quoted string, escapes such as \\0, \\a, \\e or \\x1b write them)"


@pytest.mark.parametrize(
    ("escape", "named"),
    [
        ("\\n", "U+000A (newline)"),
        ("\\x00", "U+0000 (NUL)"),
        ("\\0", "U+0000 (NUL)"),
        ("\\a", "U+0007 (BEL, bell)"),
        ("\\x07", "U+0007 (BEL, bell)"),
        ("\\e", "U+001B (ESC, escape)"),
        ("\\x1b", "U+001B (ESC, escape)"),
        ("\\uFFFE", "U+FFFE (noncharacter)"),
        ("\\uFFFF", "U+FFFF (noncharacter)"),
        ("\\t", "U+0009 (tab)"),
        ("\\r", "U+000D (carriage return)"),
        ("\\x7f", "U+007F (DEL, delete)"),
        ("\\x9b", "U+009B (control)"),
        ("\\u2028", "U+2028 (line separator)"),
        ("\\ud800", "U+D800 (surrogate)"),
        ("\\U0010FFFF", "U+10FFFF (noncharacter)"),
    ],
)
def test_a_title_is_one_line_of_plain_text(
    root: Path, capsys: pytest.CaptureFixture[str], escape: str, named: str
) -> None:
    content = GOOD.replace("title: Data tools", f'title: "Data{escape}tools"')
    message = f"title must be one line of plain text; it holds {named}"
    assert problems(root, content) == [(1, 1, message, LINE_HINT)]
    assert cli.main(["check", "requests/2026-11-21-test.yaml"]) == 1
    err = capsys.readouterr().err
    assert f"requests/2026-11-21-test.yaml:1:1: {message}\n    hint: {LINE_HINT}\n" in err


@pytest.mark.parametrize(
    ("escape", "named"),
    [
        ("\\x00", "U+0000 (NUL)"),
        ("\\e", "U+001B (ESC, escape)"),
        ("\\a", "U+0007 (BEL, bell)"),
        ("\\uFFFE", "U+FFFE (noncharacter)"),
        ("\\r", "U+000D (carriage return)"),
        ("\\x85", "U+0085 (next line)"),
    ],
)
def test_free_text_holds_no_control_character(
    root: Path, capsys: pytest.CaptureFixture[str], escape: str, named: str
) -> None:
    content = GOOD.replace(f"justification: {JUST}", f'justification: "{JUST}{escape}"')
    assert problems(root, content) == [(3, 1, f"justification holds {named}{FREE_TAIL}", FREE_HINT)]
    assert cli.main(["check", "requests/2026-11-21-test.yaml"]) == 1
    assert f"requests/2026-11-21-test.yaml:3:1: justification holds {named}" in capsys.readouterr().err


def test_free_text_may_span_lines_and_hold_tabs(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = GOOD.replace(f"justification: {JUST}", f'justification: "{JUST}\\n\\tindented\\nline"')
    content += '    note: "first\\n\\tsecond"\nremove:\n  - name: six\n    reason: |\n      old\n      \tand unused\n'
    assert problems(root, content) == []
    assert cli.main(["check", "requests/2026-11-21-test.yaml"]) == 0
    capsys.readouterr()


def test_every_text_field_is_checked(root: Path) -> None:
    content = (
        'title: Data tools\nrequested_by: "a@example.com\\e[2J"\n'
        f"justification: {JUST}\n"
        'compliance: [soc2, "a\\tb"]\n'
        'packages:\n  - name: numpy\n    note: "\\x00"\n'
        'remove:\n  - name: six\n    reason: "gone\\a"\n'
    )
    got = [(line, message.split(";")[0]) for line, _col, message, _hint in problems(root, content)]
    assert got == [
        (2, "requested_by must be one line of plain text"),
        (4, "compliance[1] must be one line of plain text"),
        (7, "packages[0].note holds U+0000 (NUL)"),
        (10, "remove[0].reason holds U+0007 (BEL, bell)"),
    ]


def test_a_block_scalar_title_keeps_a_final_line_break(root: Path) -> None:
    content = GOOD.replace("title: Data tools", "title: >\n  Data tools")
    hint = LINE_HINT + " (a block scalar written '>' or '|' ends with a line break: write '>-' or '|-')"
    assert problems(root, content) == [
        (1, 1, "title must be one line of plain text; it holds U+000A (newline)", hint)
    ]
    assert problems(root, GOOD.replace("title: Data tools", "title: >-\n  Data tools")) == []


def test_the_site_and_the_build_refuse_them_too(root: Path) -> None:
    """Every reader of requests goes through read_request: the site's and the build's refuse the file."""
    from curate.build import load_plans
    from curate.config import load_config
    from curate.errors import ValidationError
    from curate.site import collect

    (root / "requests" / "2026-11-21-test.yaml").write_text(
        GOOD.replace("title: Data tools", 'title: "Data\\x00tools"'), encoding="utf-8"
    )
    config = load_config(root)
    for read in (lambda: load_plans(root, config, {}), lambda: collect(root, config, env={})):
        with pytest.raises(ValidationError) as caught:
            read()
        assert [(p.path, p.line, p.key) for p in caught.value.problems] == [
            ("requests/2026-11-21-test.yaml", 1, "title")
        ]
