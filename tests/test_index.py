"""The static index: every page parses with pypi-simple (warnings are errors) and html5lib, and says
exactly what the Simple repository API asks for."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sys
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path

import html5lib
import pytest
from packaging.version import Version
from pypi_simple import IndexPage, ProjectPage

from curate.build import build, catalog_sources
from curate.catalog import FileEntry, load_catalog, write_project
from curate.cli import main
from curate.config import load_config
from curate.errors import BuildError
from curate.index import (
    MANIFEST,
    REPOSITORY_VERSION,
    Blobs,
    build_index,
    file_href,
    manifest_json,
    read_manifest,
    upload_time_z,
)
from curate.names import normalize
from curate.vetting import VettingRecord
from tests.test_index_helpers import PICKS, Built, make_built

PAGE_BASE = "https://index.example/simple/"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return make_built(tmp_path_factory.mktemp("index"))


def _project_dirs(public: Path) -> Iterator[Path]:
    for d in sorted((public / "simple").iterdir()):
        if d.is_dir():
            yield d


def _strict_html5(data: bytes) -> None:
    html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(data)


def test_root_lists_every_project(built: Built) -> None:
    raw = (built.public / "simple" / "index.html").read_bytes()
    _strict_html5(raw)
    page = IndexPage.from_html(raw)
    assert page.repository_version == REPOSITORY_VERSION
    assert page.projects == sorted(
        (built.upstream.names[normalize(n)] for n in PICKS), key=lambda n: normalize(n)
    )
    hrefs = re.findall(r'<a href="([^"]+)">', raw.decode())
    assert hrefs == sorted(f"{normalize(n)}/" for n in PICKS)
    data = json.loads((built.public / "simple" / "index.json").read_bytes())
    assert data["meta"] == {"api-version": REPOSITORY_VERSION}
    assert [p["name"] for p in data["projects"]] == page.projects
    assert IndexPage.from_json_data(data).projects == page.projects


def test_every_project_page_parses_and_matches_its_files(built: Built) -> None:
    catalog = load_catalog(built.root)
    dirs = list(_project_dirs(built.public))
    assert [d.name for d in dirs] == sorted(normalize(n) for n in PICKS)
    for d in dirs:
        raw = (d / "index.html").read_bytes()
        _strict_html5(raw)
        assert b"<base" not in raw
        html_page = ProjectPage.from_html(d.name, raw, base_url=f"{PAGE_BASE}{d.name}/")
        json_page = ProjectPage.from_json_data(
            json.loads((d / "index.json").read_bytes()), base_url=f"{PAGE_BASE}{d.name}/"
        )
        expected = sorted(f.filename for v in catalog[normalize(d.name)].versions for f in v.files)
        assert [p.filename for p in html_page.packages] == expected
        assert [p.filename for p in json_page.packages] == expected
        assert html_page.repository_version == json_page.repository_version == REPOSITORY_VERSION
        assert str(html_page.status) == str(json_page.status) == "active"
        # exactly one anchor per file, its text exactly the filename
        assert re.findall(r">([^<]+)</a>", raw.decode()) == expected
        for h, j in zip(html_page.packages, json_page.packages, strict=True):
            assert h.url == j.url
            assert h.url.startswith("https://index.example/files/")
            assert h.digests == j.digests
            assert (h.is_yanked, h.yanked_reason) == (j.is_yanked, j.yanked_reason)
            assert h.requires_python == j.requires_python
            assert h.metadata_digests == j.metadata_digests
            local = built.public / h.url.removeprefix("https://index.example/").replace("%2B", "+")
            data = local.read_bytes()
            assert hashlib.sha256(data).hexdigest() == h.digests["sha256"]
            assert j.size == len(data)
            if h.filename.endswith(".whl"):
                metadata = Path(str(local) + ".metadata").read_bytes()
                with zipfile.ZipFile(local) as zf:
                    name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
                    assert metadata == zf.read(name)
                assert h.metadata_digests == {"sha256": hashlib.sha256(metadata).hexdigest()}
            else:
                assert h.metadata_digests is None


def test_attributes_real_clients_trip_over(built: Built) -> None:
    httpish = (built.public / "simple" / "httpish" / "index.html").read_text()
    assert 'data-yanked="broken release"' in httpish
    assert httpish.count("data-yanked") == 1
    newpy = (built.public / "simple" / "newpy" / "index.html").read_text()
    assert 'data-requires-python="&gt;=3.12"' in newpy
    plus = (built.public / "simple" / "plus-ver" / "index.html").read_text()
    assert 'href="../../files/plus-ver/plus_ver-1.0%2Blocal-py3-none-any.whl#sha256=' in plus
    assert ">plus_ver-1.0+local-py3-none-any.whl</a>" in plus
    assert "data-dist-info-metadata=" in plus
    assert "data-core-metadata=" in plus
    assert f'<meta name="pypi:repository-version" content="{REPOSITORY_VERSION}">' in plus


def test_json_pages_follow_pep_691_and_700(built: Built) -> None:
    for d in _project_dirs(built.public):
        data = json.loads((d / "index.json").read_bytes())
        assert data["name"] == d.name
        assert data["meta"] == {"api-version": REPOSITORY_VERSION}
        assert data["project-status"] == {"status": "active"}
        assert data["versions"] == sorted({f["filename"].split("-")[1] for f in data["files"]}, key=_ver)
        for f in data["files"]:
            assert "dist-info-metadata" not in f
            assert "data-dist-info-metadata" not in f
            assert f["yanked"] is False or (isinstance(f["yanked"], str) and f["yanked"])
            assert f["upload-time"].endswith("Z")
            assert isinstance(f["size"], int)
            assert f["filename"].endswith(".whl") == ("core-metadata" in f)
    httpish = json.loads((built.public / "simple" / "httpish" / "index.json").read_bytes())
    assert [f["yanked"] for f in httpish["files"]] == [False, "broken release"]


def _ver(v: str) -> Version:
    return Version(v)


def test_api_describes_versions_files_os_and_vetting(built: Built) -> None:
    catalog = json.loads((built.public / "api" / "catalog.json").read_bytes())
    by_name = {p["normalized"]: p for p in catalog["projects"]}
    assert sorted(by_name) == sorted(normalize(n) for n in PICKS)
    assert by_name["wincolor"]["os"] == ["windows"]
    assert by_name["fastmath"]["os"] == ["linux", "macos", "windows"]
    assert by_name["webapp"]["latest"] == "2.0"
    webapp = json.loads((built.public / "api" / "webapp.json").read_bytes())
    assert [v["version"] for v in webapp["versions"]] == ["1.0", "2.0"]
    v2 = webapp["versions"][1]
    assert set(v2["os"]) == {"linux", "macos", "windows"}
    assert v2["files"][0]["url"].endswith("/files/webapp/webapp-2.0-py3-none-any.whl")
    assert "vetting" in v2
    assert v2["requests"] == ["2026-01-01-fixture"]


def test_manifest_is_hidden_from_nothing_but_present(built: Built) -> None:
    manifest = json.loads((built.public / MANIFEST).read_bytes())
    assert sorted(manifest["projects"]) == sorted(normalize(n) for n in PICKS)


def test_the_manifest_reads_as_typed_records(built: Built) -> None:
    fp = json.loads((built.public / MANIFEST).read_bytes())["fingerprint"]
    records = read_manifest(built.public, fp)
    assert sorted(records) == sorted(normalize(n) for n in PICKS)
    webapp = records["webapp"]
    assert (webapp["entry"]["name"], webapp["entry"]["latest"], webapp["entry"]["status"]) == (
        "webapp",
        "2.0",
        "active",
    )
    assert "simple/webapp/index.html" in webapp["outputs"]
    assert all((built.public / rel).is_file() for r in records.values() for rel in r["outputs"])
    assert manifest_json(fp, records) == (built.public / MANIFEST).read_text("utf-8")  # round trip
    assert read_manifest(built.public, "another fingerprint") == {}


def test_a_manifest_record_that_does_not_read_renders_everything_again(tmp_path: Path) -> None:
    b = make_built(tmp_path)
    before = _tree(b.public)
    data = json.loads((b.public / MANIFEST).read_bytes())
    del data["projects"]["certy"]["outputs"]
    (b.public / MANIFEST).write_text(json.dumps(data), "utf-8")
    assert read_manifest(b.public, data["fingerprint"]) == {}
    done = build(root=b.root, output=b.public, cache_dir=b.cache, env={}, site=False)  # in place
    assert done.stats is not None
    assert (done.stats.rendered, done.stats.reused) == (done.stats.projects, 0)  # every page rendered again
    after = _tree(b.public)
    assert sorted(after) == sorted(before)
    assert all(after[k][0] == before[k][0] for k in before)
    # the same bytes: the files are kept as they were (their ETag and Last-Modified too)
    assert after["simple/webapp/index.html"][1] == before["simple/webapp/index.html"][1]


def test_build_names_the_projects_it_no_longer_serves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = make_built(tmp_path)
    (b.root / "catalog" / "packages" / "linuxonly.yaml").unlink()
    (b.root / "catalog" / "packages" / "wincolor.yaml").unlink()
    # a staged build (a fresh tree swapped in), as `curate build` with the site does
    staged = tmp_path / "staged"
    stats = build_index(
        staged, catalog_sources(b.root), config=load_config(b.root), blobs=Blobs(b.cache), previous=b.public
    )
    assert (stats.removed, stats.removed_names) == (2, ["linuxonly", "wincolor"])
    # in place, through the CLI, -o like every verb's
    args = ["-C", str(b.root), "build", "--index-only", "--cache-dir", str(b.cache), "-o", str(b.public)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 removed)" in out
    assert "no longer served (not in the catalog): linuxonly, wincolor\n" in out
    assert not (b.public / "simple" / "linuxonly").exists()
    assert main(args) == 0
    assert "no longer served" not in capsys.readouterr().out


def test_build_output_is_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = make_built(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["-C", str(b.root), "build", "--index-only", "--cache-dir", str(b.cache), "-o", "out"]) == 0
    assert (tmp_path / "out" / "simple" / "index.html").is_file()
    assert not (b.root / "out").exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01T00:00:00.000000Z", "2024-01-01T00:00:00.000000Z"),
        ("2024-01-01T00:00:00+00:00", "2024-01-01T00:00:00Z"),
        ("2024-01-01T02:30:00.5+02:00", "2024-01-01T00:30:00.500000Z"),
        ("2024-01-01T00:00:00", "2024-01-01T00:00:00Z"),
        ("2024-01-01 00:00:00+00:00", "2024-01-01T00:00:00Z"),
        ("last tuesday", ""),
        ("", ""),
    ],
)
def test_upload_time_z(value: str, expected: str) -> None:
    assert upload_time_z(value) == expected


# -- building: determinism, incremental rebuilds, atomic publishing --------------------------------


def _tree(public: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(public).as_posix(): (p.read_bytes(), p.stat().st_ino)
        for p in sorted(public.rglob("*"))
        if p.is_file()
    }


def test_rebuild_from_scratch_gives_identical_bytes(built: Built, tmp_path: Path) -> None:
    other = tmp_path / "public"
    build(root=built.root, output=other, cache_dir=built.cache, env={}, site=False)
    a, b = _tree(built.public), _tree(other)
    assert sorted(a) == sorted(b)
    assert all(a[k][0] == b[k][0] for k in a)


def _change_one(root: Path, name: str) -> None:
    catalog = load_catalog(root)
    project = catalog[normalize(name)]
    version = project.versions[0]
    vetting = version.vetting or VettingRecord(status="pass")
    changed = dataclasses.replace(version, vetting=dataclasses.replace(vetting, summary="changed"))
    write_project(root, dataclasses.replace(project, versions=(changed, *project.versions[1:])))


def test_one_project_change_rewrites_that_project_and_the_root_only(tmp_path: Path) -> None:
    b = make_built(tmp_path)
    before = _tree(b.public)
    _change_one(b.root, "certy")
    build(root=b.root, output=b.public, cache_dir=b.cache, env={}, site=False)  # in place
    after = _tree(b.public)
    changed = sorted(k for k in after if after[k][1] != before[k][1])
    # certy's pages are rendered again, but only the files whose bytes changed are written (a new
    # summary is in the api/ files, not in the index pages)
    assert changed == sorted(k for k in after if after[k][0] != before[k][0])
    assert changed == [MANIFEST, "api/catalog.json", "api/certy.json"]
    # the staged (full) build hard-links what did not change from the live tree
    _change_one(b.root, "webapp")
    fake_site = types.ModuleType("curate.site")

    def docs(root: Path, config: object, out: Path, env: object, **_: object) -> types.SimpleNamespace:
        (out / "index.html").write_text("docs\n")
        return types.SimpleNamespace(
            environments=None, history=None
        )  # the build plans the environments itself

    fake_site.build_site = docs  # type: ignore[attr-defined]

    fake_site.finish_site = lambda data: None  # type: ignore[attr-defined]
    fake_site.start_history = lambda *a, **k: None  # type: ignore[attr-defined]  # no history
    real_site = sys.modules.get("curate.site")
    sys.modules["curate.site"] = fake_site
    try:
        build(root=b.root, output=b.public, cache_dir=b.cache, env={})
    finally:
        _restore_site(real_site)
    staged = _tree(b.public)
    assert staged["index.html"][0] == b"docs\n"
    assert staged["simple/certy/index.html"][1] == after["simple/certy/index.html"][1]
    # webapp's pages were rendered again: what changed is new, what did not is kept from the live tree
    assert staged["api/webapp.json"][1] != after["api/webapp.json"][1]
    assert staged["simple/webapp/index.html"][1] == after["simple/webapp/index.html"][1]
    assert not list(tmp_path.joinpath("repo").glob(".public.*"))


def test_an_in_place_build_without_a_manifest_leaves_no_temporary_file(tmp_path: Path) -> None:
    """A new curate (another fingerprint) or a lost manifest: every file is linked again, in place."""
    b = make_built(tmp_path)
    before = _tree(b.public)
    (b.public / MANIFEST).unlink()
    build(root=b.root, output=b.public, cache_dir=b.cache, env={}, site=False)  # in place
    after = _tree(b.public)
    assert sorted(after) == sorted(before)
    assert all(after[k][0] == before[k][0] for k in before)


def _restore_site(real: types.ModuleType | None) -> None:
    """The module as it was (not a fresh import: the mkdocs plugin and others hold that one)."""
    if real is not None:
        sys.modules["curate.site"] = real
    else:
        del sys.modules["curate.site"]


def test_a_failed_build_leaves_the_previous_tree_serving(tmp_path: Path) -> None:
    b = make_built(tmp_path)
    before = _tree(b.public)
    fake_site = types.ModuleType("curate.site")

    def broken(root: Path, config: object, out: Path, env: object, **_: object) -> None:
        (out / "index.html").write_text("half a site")
        raise BuildError("mkdocs failed")

    fake_site.build_site = broken  # type: ignore[attr-defined]

    fake_site.finish_site = lambda data: None  # type: ignore[attr-defined]
    fake_site.start_history = lambda *a, **k: None  # type: ignore[attr-defined]  # no history
    real_site = sys.modules.get("curate.site")
    sys.modules["curate.site"] = fake_site
    try:
        with pytest.raises(BuildError, match="mkdocs failed"):
            build(root=b.root, output=b.public, cache_dir=b.cache, env={})
    finally:
        _restore_site(real_site)
    assert _tree(b.public) == before
    assert not list(b.root.glob(".public.*"))


def test_missing_cache_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    b = make_built(tmp_path)
    with pytest.raises(BuildError, match=r"certy-2024\.1-py3-none-any\.whl .*not in the cache.*curate fetch"):
        build(root=b.root, output=tmp_path / "other", cache_dir=tmp_path / "empty-cache", env={}, site=False)
    assert not (tmp_path / "other").exists()


def test_blocked_versions_are_left_out_and_an_empty_project_quarantined(tmp_path: Path) -> None:
    b = make_built(tmp_path, picks={"httpish": ["1.1", "1.2"], "certy": ["2024.1"]})
    catalog = load_catalog(b.root)
    httpish = catalog[normalize("httpish")]
    write_project(
        b.root,
        dataclasses.replace(
            httpish,
            versions=tuple(
                dataclasses.replace(v, vetting=VettingRecord(status="block")) if v.version == "1.1" else v
                for v in httpish.versions
            ),
        ),
    )
    certy = catalog[normalize("certy")]
    write_project(
        b.root,
        dataclasses.replace(
            certy,
            versions=tuple(
                dataclasses.replace(v, vetting=VettingRecord(status="block")) for v in certy.versions
            ),
        ),
    )
    build(root=b.root, output=b.public, cache_dir=b.cache, env={}, site=False)
    page = json.loads((b.public / "simple" / "httpish" / "index.json").read_bytes())
    assert page["versions"] == ["1.2"]
    assert not (b.public / "files" / "httpish" / "httpish-1.1-py3-none-any.whl").exists()
    certy_html = (b.public / "simple" / "certy" / "index.html").read_bytes()
    parsed = ProjectPage.from_html("certy", certy_html)
    assert str(parsed.status) == "quarantined"
    assert parsed.packages == []
    assert "blocked by vetting" in (parsed.status_reason or "")


def test_link_mode_points_at_the_files_base_url_without_copying(tmp_path: Path) -> None:
    b = make_built(
        tmp_path,
        picks={"certy": ["2024.1"], "Plus.Ver": ["1.0+local"]},
        config_replace=("  mode: mirror", "  mode: link\n  base_url: https://files.example/pkgs"),
    )
    assert load_config(b.root).files_mode == "link"
    assert not (b.public / "files").exists()
    page = ProjectPage.from_html("plus-ver", (b.public / "simple" / "plus-ver" / "index.html").read_bytes())
    (pkg,) = page.packages
    assert pkg.url == "https://files.example/pkgs/plus-ver/plus_ver-1.0%2Blocal-py3-none-any.whl"
    assert pkg.metadata_digests is None
    # without files.base_url: the upstream's URL, '+' percent-encoded even where the upstream left it raw
    upstream = dataclasses.replace(load_config(b.root), files_base_url=None)
    raw = FileEntry(filename="a-1+x-py3-none-any.whl", sha256="0", size=1)
    listed = "https://up.example/f/a-1+x-py3-none-any.whl#x"
    assert file_href(upstream, "a", raw, listed) == ("https://up.example/f/a-1%2Bx-py3-none-any.whl", "")


def test_api_says_whether_known_vulnerabilities_were_checked(built: Built) -> None:
    """issue 13, item 15: the fixture catalog is not vetted, so nothing was checked, and api/ says so."""
    api = json.loads((built.public / "api" / "httpish.json").read_bytes())
    assert {v["known_vulnerabilities"] for v in api["versions"]} == {"not checked"}
