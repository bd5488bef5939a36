"""Build dependencies are part of the catalog (issue 14 item 1), with real backends and real clients.

The fixture upstream serves four sdist-only projects built by real backends, and the backends' wheels
(tests/data/build-backends.txt, downloaded by ``make venv`` into .venv/test-wheelhouse; these tests skip,
saying so, when it is missing):

- ``st-plain``: no pyproject.toml at all (PEP 518's default ``setuptools>=40.8.0``, and ``wheel``, which
  older pip installs too; setuptools' legacy backend);
- ``st-dynamic``: setuptools, whose ``setup_requires`` the backend asks for through
  ``get_requires_for_build_wheel``: ``setup-helper``, a wheel nothing else needs (the lock adds it);
- ``flit-pkg``: flit_core;
- ``hatch-pkg``: hatchling with the hatch-vcs plugin (and so setuptools-scm), in no request.

One request asks for the four on Linux and Windows, Python 3.11 (``files.allow_sdist: true``). The
catalog is locked, fetched (the fixture's cache), vetted for real and built once for the module; pip and
uv (and the older pip a fresh venv brings) then install each sdist from the built index alone, building
it with the backend the index serves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from curate.build import build
from curate.builddeps import parse_build_system, sandbox_prefix
from curate.catalog import Project, load_catalog
from curate.lockstate import STATE_PATH, catalog_freshness
from curate.names import NormalizedName
from curate.serve import make_server, serve_in_thread, url_of
from tests.conftest import REPO
from tests.lockutil import curate, lock_repo, snapshot, write_request
from tests.test_index_helpers import fill_cache
from tests.upstream import Upstream, make_upstream
from tests.wheels import Dist, backend_sdist

pytestmark = pytest.mark.slow

WHEELHOUSE = REPO / ".venv" / "test-wheelhouse"
PY = f"{sys.version_info.major}.{sys.version_info.minor}"
SDISTS = {"st-plain": "setup.py", "st-dynamic": "setuptools", "flit-pkg": "flit", "hatch-pkg": "hatch-vcs"}


def _wheelhouse() -> list[Path]:
    wheels = sorted(WHEELHOUSE.glob("*.whl")) if WHEELHOUSE.is_dir() else []
    if not wheels:
        pytest.skip(
            f"no build backends in {WHEELHOUSE} (make venv downloads tests/data/build-backends.txt there)"
        )
    return wheels


def serve_wheelhouse(up: Upstream) -> None:
    """The build backends' real wheels, served by the fixture upstream under their own metadata."""
    from email.parser import BytesParser

    from curate.archive import read_wheel_metadata

    for path in _wheelhouse():
        meta = BytesParser().parsebytes(read_wheel_metadata(path), headersonly=True)
        dist = Dist(
            name=str(meta["Name"]), version=str(meta["Version"]), requires_python=meta["Requires-Python"]
        )
        up.add_file(dist, path)


def add_sdists(up: Upstream, out: Path, **kwargs: tuple[str, ...]) -> None:
    for name, backend in SDISTS.items():
        setup_requires = ("setup-helper",) if name == "st-dynamic" else ()
        up.add_file(
            Dist(name=name, version="1.0"),
            backend_sdist(name, "1.0", backend, out, setup_requires=setup_requires),
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Upstream, Path]]:
    """The locked, vetted and built catalog (repository root), its upstream (serving), and its cache."""
    _wheelhouse()
    base = tmp_path_factory.mktemp("builddeps")
    mp = pytest.MonkeyPatch()
    mp.setenv("UV_CACHE_DIR", str(base / "uv-cache"))
    cache = base / "cache"
    mp.setenv("CURATE_CACHE_DIR", str(cache))
    helper = Dist(name="setup-helper", version="1.0", sdist=False, summary="what st-dynamic's setup_requires")
    up = make_upstream(base / "upstream", [helper])
    serve_wheelhouse(up)
    add_sdists(up, base / "upstream" / "files")
    with up:
        root = lock_repo(base / "repo", up.index_url, allow_sdist=True)
        write_request(root, "builds", [(name, "==1.0") for name in SDISTS], python=(PY,))
        try:
            assert curate(root, "lock", "-q") == 0
            fill_cache(up, cache)
            assert curate(root, "vet", "--no-advisories", "-q") == 0
        finally:
            mp.undo()
        build(root=root, output=root / "public", cache_dir=cache, env={}, site=False)
        yield root, up, cache


def _version(catalog: dict[NormalizedName, Project], name: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(v.version, v.to_build) for v in catalog[NormalizedName(name)].versions]


def test_the_lock_adds_what_building_each_sdist_needs(world: tuple[Path, Upstream, Path]) -> None:
    root, _, _ = world
    catalog = load_catalog(root)
    targets = {f"linux-x86_64-py{PY}", f"windows-amd64-py{PY}"}
    # each sdist records what building it needs
    plain = catalog[NormalizedName("st-plain")].versions[0]
    assert set(plain.build_targets) == targets
    assert plain.build_system is not None
    assert plain.build_system.requires == ("setuptools>=40.8.0", "wheel")  # no pyproject.toml: the defaults
    assert plain.build_system.backend == "setuptools.build_meta:__legacy__"
    dynamic = catalog[NormalizedName("st-dynamic")].versions[0].build_system
    assert dynamic is not None
    assert dynamic.requires == ("setuptools>=61",)
    if sandbox_prefix([]) is not None:  # the backend, run in a sandbox, asked for its setup_requires
        assert dynamic.backend_asked
        assert dynamic.backend_requires == ("setup-helper",)
    # the backends are catalog versions needed to build them, by the request, on the targets building them
    (setuptools,) = catalog[NormalizedName("setuptools")].versions
    assert setuptools.version == "84.2.1"
    assert set(setuptools.to_build) >= {"st-plain==1.0", "st-dynamic==1.0"}
    assert all(n.request == "2026-11-21-builds" and not n.direct for n in setuptools.needed_by)
    assert all(set(n.targets) == targets for n in setuptools.needed_by)
    assert setuptools.build_only
    assert not setuptools.superseded
    assert {t for f in setuptools.files for t in f.targets} == targets
    assert _version(catalog, "flit-core") == [("4.2.0", ("flit-pkg==1.0",))]
    # the plugin nobody asked for, and what it pulls in
    assert _version(catalog, "hatch-vcs") == [("0.5.0", ("hatch-pkg==1.0",))]
    assert "hatch-pkg==1.0" in catalog[NormalizedName("setuptools-scm")].versions[0].to_build
    hatch_vcs = catalog[NormalizedName("hatch-vcs")].versions[0]
    assert {d.name for d in hatch_vcs.dependencies} >= {"hatchling", "setuptools-scm"}
    if sandbox_prefix([]) is not None:
        assert _version(catalog, "setup-helper") == [("1.0", ("st-dynamic==1.0",))]
    # a build dependency is vetted like any other version, and lock --check is satisfied
    assert setuptools.vetting is not None
    assert catalog_freshness(root).stale == ()
    assert curate(root, "lock", "--check") == 0


@pytest.mark.parametrize("client", ["pip", "ensurepip", "uv"])
def test_a_client_builds_each_sdist_with_only_the_index(
    world: tuple[Path, Upstream, Path], tmp_path: Path, client: str
) -> None:
    root, _, _ = world
    server = make_server(root / "public", port=0, quiet=True)
    stop = serve_in_thread(server)
    index = f"{url_of(server)}/simple/"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
    )
    target = tmp_path / "site"
    # the older pip differs only where nothing is declared (it also installs wheel): that one is enough
    names = ["st-plain"] if client == "ensurepip" else sorted(SDISTS)
    if client in ("pip", "ensurepip"):
        python = sys.executable
        if client == "ensurepip":  # the older pip a fresh venv brings (it also installs wheel for setup.py)
            subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, env=env)
            python = str(tmp_path / "venv" / "bin" / "python")
        cmd = [python, "-m", "pip", "install", "--no-cache-dir", "--index-url", index]
        cmd += ["--no-binary", ",".join(names), "--target", str(target), *names]
    else:
        uv = Path(sys.executable).parent / "uv"
        cmd = [str(uv), "pip", "install", "--python", sys.executable, "--index-url", index]
        cmd += [arg for name in names for arg in ("--no-binary", name)]
        cmd += ["--target", str(target), *names]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    finally:
        stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in names:
        snake = name.replace("-", "_")
        probe = subprocess.run(
            [sys.executable, "-c", f"import {snake}; print({snake}.__version__)"],
            capture_output=True,
            text=True,
            env={**env, "PYTHONPATH": str(target)},
            check=False,
        )
        assert probe.stdout.strip() == "1.0", probe.stderr


def test_diff_and_api_say_what_a_version_builds(world: tuple[Path, Upstream, Path]) -> None:
    root, _, _ = world
    import json

    from curate.diff import compare, render_markdown, render_text

    report = compare({}, load_catalog(root))
    text = render_text(report)
    assert "to build flit-pkg 1.0" in text, text
    assert "to build hatch-pkg 1.0" in render_markdown(report)
    (change,) = [c for c in report.changes if c.normalized == "hatch-vcs"]
    assert change.to_build == ("hatch-pkg==1.0",)
    assert change.to_dict()["to_build"] == ["hatch-pkg==1.0"]
    api = json.loads((root / "public" / "api" / "flit-core.json").read_text("utf-8"))
    assert api["versions"][0]["to_build"] == ["flit-pkg==1.0"]
    sdist_api = json.loads((root / "public" / "api" / "st-dynamic.json").read_text("utf-8"))
    assert sdist_api["versions"][0]["build_system"]["requires"] == ["setuptools>=61"]


def test_a_lock_from_before_build_dependencies_is_stale(
    world: tuple[Path, Upstream, Path], tmp_path: Path
) -> None:
    """A catalog allowing sdists, locked before build dependencies were part of it: --check says so, and
    curate lock adds them without resolving any request again."""
    import json
    import shutil

    root, up, cache = world
    copy = tmp_path / "repo"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("public"))
    state = json.loads((copy / STATE_PATH).read_text("utf-8"))
    del state["builds"]
    (copy / STATE_PATH).write_text(json.dumps(state, indent=1) + "\n", "utf-8")
    kinds = [s.kind for s in catalog_freshness(copy).stale]
    assert kinds == ["builds-changed"]
    assert curate(copy, "lock", "--check") == 1
    before = snapshot(copy)
    mp = pytest.MonkeyPatch()
    mp.setenv("CURATE_CACHE_DIR", str(cache))
    try:
        with up:
            assert curate(copy, "lock", "-q") == 0
    finally:
        mp.undo()
    after = snapshot(copy)
    assert {k for k in after if after[k] != before.get(k)} == {"lock.json"}  # the same catalog, now current
    assert curate(copy, "lock", "--check") == 0


def test_a_build_requirement_that_cannot_be_had_fails_the_lock_naming_request_and_sdist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _wheelhouse()
    up = make_upstream(tmp_path / "upstream", [])
    serve_wheelhouse(up)
    sdist = backend_sdist(
        "odd-build", "2.0", "setuptools", tmp_path / "upstream" / "files", requires=["no-such-backend>=1"]
    )
    up.add_file(Dist(name="odd-build", version="2.0"), sdist)
    mp = pytest.MonkeyPatch()
    mp.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    mp.setenv("CURATE_CACHE_DIR", str(tmp_path / "cache"))
    try:
        with up:
            root = lock_repo(tmp_path / "repo", up.index_url, allow_sdist=True)
            path = write_request(root, "odd", [("odd-build", "")], python=(PY,))
            before = snapshot(root)
            assert curate(root, "lock") == 1
    finally:
        mp.undo()
    err = capsys.readouterr().err
    assert f"requests/{path.name}:" in err
    assert "odd-build 2.0" in err, err
    assert "no-such-backend" in err, err
    assert snapshot(root) == before  # all or nothing


def test_build_system_defaults_and_refusals() -> None:
    from curate.builddeps import BuildDepsError

    assert parse_build_system("").requires == ("setuptools>=40.8.0", "wheel")
    assert parse_build_system('[build-system]\nbuild-backend = "x"\n').requires == (
        "setuptools>=40.8.0",
        "wheel",
    )
    declared = parse_build_system(
        '[build-system]\nrequires = ["flit_core>=3"]\nbuild-backend = "flit_core.buildapi"\n'
    )
    assert declared.requires == ("flit_core>=3",)
    assert declared.backend == "flit_core.buildapi"
    with pytest.raises(BuildDepsError, match="URL"):
        parse_build_system('[build-system]\nrequires = ["evil @ https://upstream.example/evil.whl"]\n')
    with pytest.raises(BuildDepsError, match="not valid TOML"):
        parse_build_system("[build-system\n")


def test_the_package_page_says_what_builds_what(world: tuple[Path, Upstream, Path]) -> None:
    from curate.config import load_config
    from curate.site import SiteRenderer, collect

    root, _, _ = world
    data = collect(root, load_config(root), env={})
    renderer = SiteRenderer(data)
    backend = renderer.package(data.projects[NormalizedName("hatch-vcs")])
    assert "to build the sdist of" in backend
    assert '<a href="../hatch-pkg/#v1.0">hatch-pkg 1.0</a>' in backend
    sdist = renderer.package(data.projects[NormalizedName("st-dynamic")])
    assert "Building it needs (all served here): <code>setuptools&gt;=61</code>" in sdist
    assert "<code>setup-helper</code>" in sdist or sandbox_prefix([]) is None


def test_sdists_are_read_by_their_name_and_unpacked_only_when_safe(tmp_path: Path) -> None:
    """A cache blob is named by its sha256: the sdist's file name says whether it is a zip; an archive
    with a member leaving its folder is never unpacked."""
    import io
    import tarfile
    import zipfile

    from curate.builddeps import BuildDepsError, read_build_system, unpack_sdist

    blob = tmp_path / "35e630eca2aa50ce"
    with zipfile.ZipFile(blob, "w") as zf:
        zf.writestr("zipped-1.0/pyproject.toml", '[build-system]\nrequires = ["flit_core>=3"]\n')
        zf.writestr("zipped-1.0/zipped.py", "")
    assert read_build_system(blob, "zipped-1.0.zip").requires == ("flit_core>=3",)
    assert (unpack_sdist(blob, tmp_path / "zip", "zipped-1.0.zip") / "zipped.py").is_file()
    evil = tmp_path / "evil-1.0.tar.gz"
    with tarfile.open(evil, "w:gz") as tf:
        for name in ("evil-1.0/setup.py", "evil-1.0/../../escaped"):
            info = tarfile.TarInfo(name)
            tf.addfile(info, io.BytesIO(b""))
    with pytest.raises(BuildDepsError, match="not safe to unpack"):
        unpack_sdist(evil, tmp_path / "evil")
    assert not (tmp_path / "escaped").exists()


def test_a_backend_that_reaches_for_the_network_fails_the_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The backend is asked in a sandbox with no network: one that connects (here to the fixture upstream
    itself, on 127.0.0.1) fails, with the last lines of what it printed; nothing is written."""
    import io
    import tarfile

    if sandbox_prefix([]) is None:
        pytest.skip("neither bwrap nor unshare -n works on this machine: the backend is not run at all")
    up = make_upstream(tmp_path / "upstream", [])
    with up:
        host, port = up.url.removeprefix("http://").split(":")
        backend = (
            "import socket\n"
            "def get_requires_for_build_wheel(config_settings=None):\n"
            f"    socket.create_connection(({host!r}, {port}), timeout=5).close()\n"
            "    return ['reached-the-network']\n"
        )
        files = {
            "netty-1.0/pyproject.toml": (
                '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
                '[project]\nname = "netty"\nversion = "1.0"\n'  # static: uv reads it without the backend
            ),
            "netty-1.0/backend.py": backend,
            "netty-1.0/PKG-INFO": "Metadata-Version: 2.2\nName: netty\nVersion: 1.0\n",
        }
        sdist = tmp_path / "upstream" / "files" / "netty-1.0.tar.gz"
        sdist.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist, "w:gz") as tf:
            for name, text in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(text.encode())
                tf.addfile(info, io.BytesIO(text.encode()))
        up.add_file(Dist(name="netty", version="1.0"), sdist)
        mp = pytest.MonkeyPatch()
        mp.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
        mp.setenv("CURATE_CACHE_DIR", str(tmp_path / "cache"))
        try:
            root = lock_repo(tmp_path / "repo", up.index_url, allow_sdist=True)
            write_request(root, "net", [("netty", "")], python=(PY,))
            before = snapshot(root)
            assert curate(root, "lock") == 1
        finally:
            mp.undo()
    err = capsys.readouterr().err
    assert "netty 1.0" in err
    assert "the build backend failed" in err
    assert "Network is unreachable" in err or "Connection refused" in err, err
    assert snapshot(root) == before


def test_a_build_dependency_is_not_in_the_requests_installed_set(world: tuple[Path, Upstream, Path]) -> None:
    """curate smoke installs what a request installs: its packages, not what building them needs."""
    from curate.smoke import locked_set, locked_sets

    root, _, _ = world
    catalog = load_catalog(root)
    target = f"linux-x86_64-py{PY}"
    names = [e.normalized for e in locked_set(catalog, "2026-11-21-builds", target)]
    assert names == sorted(SDISTS)
    assert [e.normalized for e in locked_sets(catalog)[("2026-11-21-builds", target)]] == names


def test_what_a_lock_recorded_is_kept_while_the_sdists_do_not_change(
    world: tuple[Path, Upstream, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another request locked later: the sdists already in the catalog are neither read nor asked again,
    and their build dependencies stay as they were; the new request's own sdist-free packages come in."""
    import shutil

    root, up, cache = world
    copy = tmp_path / "repo"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("public"))
    write_request(copy, "later", [("setup-helper", "")], python=(PY,), date="2026-11-22")
    before = load_catalog(copy)
    mp = pytest.MonkeyPatch()
    mp.setenv("CURATE_CACHE_DIR", str(cache))
    mp.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    try:
        with up:
            assert curate(copy, "lock") == 0
    finally:
        mp.undo()
    err = capsys.readouterr().err
    assert "what building" not in err
    after = load_catalog(copy)
    for name in ("st-plain", "st-dynamic", "flit-pkg", "hatch-pkg", "setuptools", "hatchling"):
        assert (
            after[NormalizedName(name)].versions[0].needed_by
            == before[NormalizedName(name)].versions[0].needed_by
        )
    (helper,) = after[NormalizedName("setup-helper")].versions
    assert {n.request for n in helper.needed_by if not n.to_build} == {"2026-11-22-later"}


def test_the_build_set_of_an_sdist_on_a_target(world: tuple[Path, Upstream, Path]) -> None:
    """What the build stage installs to build an sdist there: the versions needed to build it, their wheels."""
    from curate.builddeps import build_set

    root, _, _ = world
    catalog = load_catalog(root)
    pins = build_set(catalog, (NormalizedName("hatch-pkg"), "1.0"), f"windows-amd64-py{PY}")
    assert {p.name for p in pins} >= {"hatchling", "hatch-vcs", "setuptools-scm", "packaging", "pluggy"}
    assert all(p.wheel.filename.endswith("-none-any.whl") for p in pins)
    assert build_set(catalog, (NormalizedName("hatch-pkg"), "1.0"), "macos-arm64-py3.12") == []
