"""Only bytes vetted as those bytes are served: the index and the site serve a version only when its vetting
record covers exactly the sha256 of each of its files, was reached under the config's policy and passes
it; the others are left out and listed, failing the build under CI. Every file served is verified to be
the bytes its sha256 names (the cache's blob, and the previous build's copy)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import sys
import types
from pathlib import Path

import pytest

from curate.build import build
from curate.cache import blob_path
from curate.catalog import Project, VersionEntry, load_catalog, write_project
from curate.cli import main
from curate.config import load_config
from curate.errors import BuildError
from curate.index import unserved
from curate.names import normalize
from curate.vetting import AppliedWaiver, FileEvidence, Finding
from tests.catalogs import served_record
from tests.test_index_helpers import Built, make_built

PICKS = {
    "webapp": ["1.0", "2.0"],
    "httpish": ["1.1", "1.2"],
    "certy": ["2024.1"],
    "newpy": ["0.9", "1.0"],
    "linuxonly": ["1.0"],
}
TODAY = dt.date(2026, 6, 1)


def _edit(root: Path, name: str, version: str, change: object) -> None:
    project = load_catalog(root)[normalize(name)]
    versions = tuple(change(v) if v.version == version else v for v in project.versions)  # type: ignore[operator]
    write_project(root, dataclasses.replace(project, versions=versions))


def _served(public: Path, name: str) -> list[str]:
    return list(json.loads((public / "simple" / normalize(name) / "index.json").read_bytes())["versions"])


def _waived(v: VersionEntry, expires: dt.date) -> VersionEntry:
    assert v.vetting is not None
    finding = Finding(
        id="GHSA-aaaa-bbbb-cccc",
        kind="vulnerability",
        decision="waived",
        waiver=AppliedWaiver(justification="internal only", expires=expires),
    )
    return dataclasses.replace(v, vetting=dataclasses.replace(v.vetting, status="pass", findings=(finding,)))


@pytest.fixture
def built(tmp_path: Path) -> Built:
    b = make_built(tmp_path, picks=PICKS)
    root = b.root
    config = load_config(root)
    # webapp 1.0: never vetted (lock + fetch, no vet) -- the case
    _edit(root, "webapp", "1.0", lambda v: dataclasses.replace(v, vetting=None))
    # httpish 1.1: vetted, but other bytes than the catalog's (the record names another sha256)
    _edit(
        root,
        "httpish",
        "1.1",
        lambda v: dataclasses.replace(
            v,
            vetting=dataclasses.replace(
                v.vetting,
                files=tuple(dataclasses.replace(e, sha256="0" * 64) for e in v.vetting.files),
            ),
        ),
    )
    # newpy 0.9: a record written before records named each file's sha256
    _edit(
        root,
        "newpy",
        "0.9",
        lambda v: dataclasses.replace(
            v, vetting=dataclasses.replace(v.vetting, files=(FileEvidence(filename=v.files[0].filename),))
        ),
    )
    # newpy 1.0: vetted under another policy
    _edit(
        root,
        "newpy",
        "1.0",
        lambda v: dataclasses.replace(v, vetting=dataclasses.replace(v.vetting, policy="x")),
    )
    # linuxonly 1.0: relies on a waiver that expires on TODAY (still valid that day)
    _edit(
        root,
        "linuxonly",
        "1.0",
        lambda v: _waived(dataclasses.replace(v, vetting=served_record(v, config)), TODAY),
    )
    return b


def test_unserved_says_why(built: Built) -> None:
    config = load_config(built.root)
    catalog = load_catalog(built.root)

    def why(name: str, version: str, today: dt.date = TODAY) -> str | None:
        v = next(v for v in catalog[normalize(name)].versions if v.version == version)
        return unserved(v, config.vetting, today)

    assert why("webapp", "2.0") is None
    assert why("webapp", "1.0") == "not vetted (run: curate fetch && curate vet)"
    assert (
        why("httpish", "1.1")
        == "its vetting record does not cover exactly its files' sha256 (run: curate vet)"
    )
    assert (
        why("newpy", "0.9") == "its vetting record does not cover exactly its files' sha256 (run: curate vet)"
    )
    assert why("newpy", "1.0") == (
        "vetted under another vetting policy than catalog/config.yaml's (run: curate vet)"
    )
    assert why("linuxonly", "1.0") is None
    assert why("linuxonly", "1.0", TODAY + dt.timedelta(days=1)) == (
        "a waiver it relies on expired: GHSA-aaaa-bbbb-cccc (expired 2026-06-01) (run: curate vet)"
    )


def test_the_index_serves_only_versions_vetted_as_those_bytes(built: Built) -> None:
    """Before: `curate build` after lock + fetch, without vet, published every version."""
    build(root=built.root, output=built.public, cache_dir=built.cache, env={}, site=False, today=TODAY)
    assert _served(built.public, "webapp") == ["2.0"]
    assert _served(built.public, "httpish") == ["1.2"]
    assert _served(built.public, "certy") == ["2024.1"]
    assert _served(built.public, "linuxonly") == ["1.0"]
    newpy = json.loads((built.public / "simple" / "newpy" / "index.json").read_bytes())
    assert (newpy["versions"], newpy["files"], newpy["project-status"]["status"]) == ([], [], "quarantined")
    assert not (built.public / "files" / "webapp" / "webapp-1.0-py3-none-any.whl").exists()
    assert not (built.public / "files" / "httpish" / "httpish-1.1-py3-none-any.whl").exists()
    api = json.loads((built.public / "api" / "webapp.json").read_bytes())
    assert api["left_out"] == [{"version": "1.0", "reason": "not vetted (run: curate fetch && curate vet)"}]


def _cli(root: Path, *args: str, env: dict[str, str]) -> int:
    os.environ.update(env)  # a copy (each test patches it), scrubbed of CI's by conftest.py
    return main(["-C", str(root), "build", "--index-only", *args])


@pytest.mark.parametrize(
    ("env", "args", "code"),
    [
        ({}, (), 0),  # locally: a warning with the list
        ({"CI": "true"}, (), 1),  # in CI: fails
        ({"GITHUB_ACTIONS": "true"}, (), 1),
        ({"CI": "false"}, (), 0),
        ({"CI": "true"}, ("--left-out", "warn"), 0),
        ({}, ("--left-out", "fail"), 1),
    ],
)
def test_build_lists_what_it_left_out_and_fails_under_ci(
    built: Built,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    args: tuple[str, ...],
    code: int,
) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))
    assert (
        _cli(built.root, "--cache-dir", str(built.cache), *args, env={**env, "CURATE_TODAY": "2026-06-02"})
        == code
    )
    captured = capsys.readouterr()
    kind = "error" if code else "warning"
    assert (
        f"{kind}: 5 version(s) left out of the index and the site (only vetted bytes are served):"
        in captured.err
    )
    assert "  webapp 1.0: not vetted (run: curate fetch && curate vet)\n" in captured.err
    assert (
        "  linuxonly 1.0: a waiver it relies on expired: GHSA-aaaa-bbbb-cccc (expired 2026-06-01)"
        in captured.err
    )
    assert _served(built.public, "webapp") == ["2.0"]  # published without them either way
    if env.get("GITHUB_ACTIONS"):
        assert "::error::5 version(s) are not served; the index was published without them" in captured.out


def test_a_rebuild_that_reuses_a_project_still_lists_what_it_left_out(
    built: Built, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))
    assert _cli(built.root, "--cache-dir", str(built.cache), env={"CURATE_TODAY": "2026-06-01"}) == 0
    capsys.readouterr()
    assert _cli(built.root, "--cache-dir", str(built.cache), env={"CURATE_TODAY": "2026-06-01"}) == 0
    err = capsys.readouterr().err
    assert "warning: 4 version(s) left out" in err
    assert "  webapp 1.0: not vetted" in err
    assert _served(built.public, "linuxonly") == ["1.0"]
    # the day after its waiver expired, the reused project is rendered again and its version left out
    assert _cli(built.root, "--cache-dir", str(built.cache), env={"CURATE_TODAY": "2026-06-02"}) == 0
    assert "  linuxonly 1.0: a waiver it relies on expired" in capsys.readouterr().err
    assert _served(built.public, "linuxonly") == []


def test_a_changed_policy_renders_everything_again(built: Built) -> None:
    build(root=built.root, output=built.public, cache_dir=built.cache, env={}, site=False, today=TODAY)
    path = built.root / "catalog" / "config.yaml"
    path.write_text(
        path.read_text("utf-8").replace("lookalike_distance: 1", "lookalike_distance: 2"), "utf-8"
    )
    built_again = build(
        root=built.root, output=built.public, cache_dir=built.cache, env={}, site=False, today=TODAY
    )
    assert built_again.stats is not None
    assert built_again.stats.reused == 0
    assert _served(built.public, "webapp") == []  # every record was judged by the old policy
    assert _served(built.public, "certy") == []


def test_the_site_shows_as_installable_only_what_the_index_serves(tmp_path: Path, built: Built) -> None:
    shutil.copy(Path(__file__).resolve().parent.parent / "mkdocs.yml", built.root / "mkdocs.yml")
    shutil.copytree(Path(__file__).resolve().parent.parent / "site", built.root / "site")
    out = tmp_path / "site"
    from curate.site import build_site

    build_site(built.root, load_config(built.root), out, env={}, today=TODAY)
    rows = {r[0]: r for r in json.loads((out / "packages" / "index.json").read_text("utf-8"))["rows"]}
    assert rows["webapp"][1] == "2.0"
    assert rows["newpy"][4] == 0  # on no OS: nothing of it is served
    webapp = (out / "packages" / "webapp" / "index.html").read_text("utf-8")
    served_row = webapp.split('<tr data-version="2.0">', 1)[1].split("</tr>", 1)[0]
    unvetted_row = webapp.split('<tr data-version="1.0">', 1)[1].split("</tr>", 1)[0]
    assert 'class="curate-y"' in served_row
    assert 'class="curate-y"' not in unvetted_row
    assert '<span class="curate-badge curate-block">not served</span> not vetted (run: curate fetch' in webapp
    httpish = (out / "packages" / "httpish" / "index.html").read_text("utf-8")
    assert "not served</span> its vetting record does not cover exactly its files&#39; sha256" in httpish


# -- every file served is the bytes its sha256 names ---------------------------------------------------------


def test_an_altered_cache_file_is_not_published(built: Built, tmp_path: Path) -> None:
    """Same size, other bytes: before, build hard-linked it into public/files."""
    project: Project = load_catalog(built.root)[normalize("certy")]
    wheel = project.versions[0].files[0]
    blob = blob_path(built.cache, wheel.sha256)
    st = blob.stat()
    data = blob.read_bytes()
    out = tmp_path / "fresh"
    blob.unlink()  # (public/files/ holds a hard link to the old inode: a new one here)
    blob.write_bytes(b"\0" * len(data))
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(BuildError) as err:
        build(root=built.root, output=out, cache_dir=built.cache, env={}, site=False, today=TODAY)
    assert (
        f"{wheel.filename}: the cached copy {blob} is not the catalog's bytes (sha256 {wheel.sha256})"
        in str(err.value)
    )
    assert "run curate fetch" in str(err.value)
    assert not out.exists()


def test_a_served_copy_altered_in_place_fails_the_next_build(built: Built) -> None:
    """public/files/ hard-links the cache: bytes changed there change the blob too. A rebuild that
    reuses the project checks them (its stamp changed) and stops."""
    build(root=built.root, output=built.public, cache_dir=built.cache, env={}, site=False, today=TODAY)
    served = built.public / "files" / "certy" / "certy-2024.1-py3-none-any.whl"
    data = served.read_bytes()
    with served.open("r+b") as fh:
        fh.write(b"\0" * len(data))
    with pytest.raises(BuildError, match="is not the catalog's bytes"):
        build(root=built.root, output=built.public, cache_dir=built.cache, env={}, site=False, today=TODAY)
    with pytest.raises(BuildError, match="is not the catalog's bytes"):
        build(root=built.root, output=built.public, cache_dir=built.cache, env={}, today=TODAY)


def test_a_served_copy_replaced_is_put_back_from_the_cache(built: Built) -> None:
    build(root=built.root, output=built.public, cache_dir=built.cache, env={}, site=False, today=TODAY)
    served = built.public / "files" / "certy" / "certy-2024.1-py3-none-any.whl"
    good = served.read_bytes()
    served.unlink()
    served.write_bytes(b"\0" * len(good))  # another file in its place: the cache's blob is intact
    stats = build(
        root=built.root, output=built.public, cache_dir=built.cache, env={}, site=False, today=TODAY
    ).stats
    assert stats is not None
    assert stats.reused == stats.projects  # nothing re-rendered ...
    assert served.read_bytes() == good  # ... but the file is the vetted one again


def test_a_rebuild_that_changed_nothing_reads_no_file_it_serves(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file unchanged since a build found it held its sha256 (its stamp in the manifest) costs one
    stat: neither its bytes nor a stamp file are read."""
    build(root=built.root, output=built.public, cache_dir=built.cache, env={}, site=False, today=TODAY)
    read: list[str] = []

    def hashed(path: Path) -> str:
        read.append(f"hashed {path}")
        return ""

    def stamps(cache: Path, sha256: str) -> list[str]:
        read.append(f"stamps of {sha256}")
        return []

    monkeypatch.setattr("curate.cache.sha256_of", hashed)
    monkeypatch.setattr("curate.cache._stamps", stamps)
    again = build(
        root=built.root, output=built.public, cache_dir=built.cache, env={}, site=False, today=TODAY
    )
    assert again.stats is not None
    assert (again.how, again.stats.reused) == ("updated in place", again.stats.projects)
    fake_site = types.ModuleType("curate.site")  # a fresh tree (the site with the index), without mkdocs

    def docs(root: Path, config: object, out: Path, env: object, **_: object) -> types.SimpleNamespace:
        (out / "index.html").write_text("docs\n")
        return types.SimpleNamespace(
            environments=None, history=None
        )  # the build plans the environments itself

    fake_site.build_site = docs  # type: ignore[attr-defined]
    fake_site.finish_site = lambda data: None  # type: ignore[attr-defined]
    fake_site.start_history = lambda *a, **k: None  # type: ignore[attr-defined]  # no history
    monkeypatch.setitem(sys.modules, "curate.site", fake_site)
    fresh = build(root=built.root, output=built.public, cache_dir=built.cache, env={}, today=TODAY)
    assert fresh.stats is not None
    assert (fresh.how, fresh.stats.reused) == ("published", fresh.stats.projects)
    assert read == []
