"""Round trips: a lock file whose versions differ by Python (uv.lock and poetry.lock resolution forks),
Pipfile's [requires] and per-package Python markers, imported -> checked -> locked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from curate.catalog import load_catalog
from curate.names import NormalizedName
from tests.lockutil import curate, lock_repo
from tests.test_lockers import dists
from tests.upstream import Upstream, make_upstream

IMPORT = ("--requested-by", "tests@example.com", "--justification", "The team's lock file, for the catalog.")

UV_LOCK = """\
version = 1
revision = 2
requires-python = ">=3.11"
resolution-markers = [
    "python_full_version >= '3.12'",
    "python_full_version < '3.12'",
]

[[package]]
name = "app"
version = "0.1.0"
source = { virtual = "." }
dependencies = [
    { name = "crosspy", version = "1.0", source = { registry = "https://upstream.example/simple" }, marker = "python_full_version < '3.12'" },
    { name = "crosspy", version = "2.0", source = { registry = "https://upstream.example/simple" }, marker = "python_full_version >= '3.12'" },
    { name = "crossdep", marker = "python_version >= '3.9'" },
]

[[package]]
name = "crossdep"
version = "1.0"
source = { registry = "https://upstream.example/simple" }

[[package]]
name = "crosspy"
version = "1.0"
source = { registry = "https://upstream.example/simple" }
resolution-markers = [
    "python_full_version < '3.12'",
]

[[package]]
name = "crosspy"
version = "2.0"
source = { registry = "https://upstream.example/simple" }
resolution-markers = [
    "python_full_version >= '3.12'",
]
"""

POETRY_LOCK = """\
[[package]]
name = "crosspy"
version = "1.0"
description = ""
optional = false
python-versions = ">=3.11"
groups = ["main"]
markers = "python_version < \\"3.12\\""
files = []

[package.source]
type = "legacy"
url = "https://mirror.example/simple"
reference = "mirror"

[[package]]
name = "crosspy"
version = "2.0"
description = ""
optional = false
python-versions = ">=3.12"
groups = ["main"]
markers = "python_version >= \\"3.12\\""
files = []

[package.source]
type = "legacy"
url = "https://mirror.example/simple"
reference = "mirror"

[metadata]
lock-version = "2.1"
python-versions = ">=3.11,<3.13"
"""

FORKED = """\
packages:
  - name: crossdep  # uv.lock:20
    version: "==1.0"
  - name: crosspy  # uv.lock:25
    version: "==1.0"
    python: ["3.11"]
  - name: crosspy  # uv.lock:33
    version: "==2.0"
    python: ["3.12"]
"""


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with make_upstream(tmp_path_factory.mktemp("upstream"), dists()) as up:
        yield up


@pytest.fixture
def repo(tmp_path: Path, upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.chdir(tmp_path)
    return lock_repo(tmp_path / "repo", upstream.index_url)


def test_uv_lock_forks_import_check_and_lock(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "uv.lock").write_text(UV_LOCK, "utf-8")
    out = repo / "requests" / "2026-11-21-forks.yaml"
    assert curate(repo, "import", "uv.lock", "--python", "3.11,3.12", "-o", str(out), *IMPORT) == 0
    err = capsys.readouterr().err
    assert "note:" not in err  # python_version >= '3.9' always holds: nothing to say about it
    text = out.read_text("utf-8")
    assert FORKED in text.replace("../uv.lock", "uv.lock")
    assert curate(repo, "check") == 0
    assert curate(repo, "lock", "-q") == 0
    crosspy = {v.version: v for v in load_catalog(repo)[NormalizedName("crosspy")].versions}
    assert set(crosspy["1.0"].targets) == {"linux-x86_64-py3.11", "windows-amd64-py3.11"}
    assert set(crosspy["2.0"].targets) == {"linux-x86_64-py3.12", "windows-amd64-py3.12"}
    # 1.0 is also served on 3.12 (the upstream has cp312 wheels): a lock made on 3.11 installs there
    assert {t for f in crosspy["1.0"].files for t in f.targets} >= {"linux-x86_64-py3.12"}
    assert curate(repo, "lock", "--check") == 0


def test_poetry_lock_forks_and_its_source_said_once(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "poetry.lock").write_text(POETRY_LOCK, "utf-8")
    out = repo / "requests" / "2026-11-21-poetry.yaml"
    assert curate(repo, "import", "poetry.lock", "--python", "3.11,3.12", "-o", str(out), *IMPORT) == 0
    err = capsys.readouterr().err
    assert err.count("source = 'mirror'") == 1
    text = out.read_text("utf-8")
    assert text.count("source = 'mirror'") == 1  # one skip line at the end, not a note per package
    assert '    version: "==1.0"\n    python: ["3.11"]\n' in text
    assert '    version: "==2.0"\n    python: ["3.12"]\n' in text
    assert curate(repo, "check") == 0
    assert curate(repo, "lock", "-q") == 0


def test_pipfile_requires_sets_the_request_python(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "Pipfile").write_text('[packages]\ncrosspy = "*"\n\n[requires]\npython_version = "3.12"\n')
    out = repo / "requests" / "2026-11-21-pipenv.yaml"
    assert curate(repo, "import", "Pipfile", "-o", str(out), *IMPORT) == 0
    text = out.read_text("utf-8")
    assert 'python: ["3.12"]\n' in text
    assert "python_version" not in text  # used, not skipped
    assert curate(repo, "check") == 0
    # --python still wins
    out2 = repo / "requests" / "2026-11-22-pipenv.yaml"
    assert curate(repo, "import", "Pipfile", "--python", "3.11", "-o", str(out2), *IMPORT) == 0
    assert 'python: ["3.11"]\n' in out2.read_text("utf-8")
    assert curate(repo, "lock", "-q") == 0


def test_a_python_marker_becomes_the_package_python(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("crossdep\ncrosspy==1.0 ; python_version < '3.12'\n", "utf-8")
    out = repo / "requests" / "2026-11-21-reqs.yaml"
    assert curate(repo, "import", "requirements.txt", "--python", "3.11,3.12", "-o", str(out), *IMPORT) == 0
    text = out.read_text("utf-8")
    assert '  - name: crosspy  # requirements.txt:2\n    version: "==1.0"\n    python: ["3.11"]\n' in text
    assert "marker dropped" not in text
    assert curate(repo, "check") == 0
    assert curate(repo, "lock", "-q") == 0
    (version,) = load_catalog(repo)[NormalizedName("crosspy")].versions
    assert set(version.targets) == {"linux-x86_64-py3.11", "windows-amd64-py3.11"}
