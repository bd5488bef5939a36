"""Per request x target environments: planned from the catalog, written by the build, installed by the
real clients.

One catalog for the module, made the real way (``curate lock`` against the fixture upstream, ``curate
vet`` with an OSV directory, ``curate build`` with the site): request *team* asks for webapp 2.0 and
fastmath on Linux and Windows, Python 3.11 and 3.12. On Windows webapp pulls in wincolor, which an
advisory blocks, so the Windows environments are not written and the page says why; httpish 1.1 has an
advisory that a waiver accepts, which the SBOM reports as waived. Against the served index: uv installs
the pylock and pip the hashed requirements into fresh virtual environments of the host's targets (pyenv's
3.11 and 3.12; a missing one is a skip that says so), then imports; the files validate (packaging.pylock,
the CycloneDX schema through the library's validator); ``curate env`` writes the same bytes offline; and
through proxpi (``--index-url``) and a second host (``--base-url``) the lock still installs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import glob
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.pylock import Pylock
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

import curate.environments as environments_module
import curate.site as curate_site
from curate.build import build, load_plans, write_environment_files
from curate.catalog import BuiltFile, Dependency, FileEntry, Need, Project, VersionEntry
from curate.config import Config, load_config
from curate.environments import (
    FORMATS,
    Blocker,
    Environment,
    EnvironmentUnavailable,
    EnvPackage,
    EnvRenderer,
    Locations,
    installed_file,
    mirror_locations,
    plan,
    request_targets,
)
from curate.errors import BuildError
from curate.index import BuiltCheck, served_files, unserved
from curate.names import NormalizedName, normalize
from curate.requests import PackageSpec, Request
from curate.sbom import SbomRenderer, library_json
from curate.serve import Access, make_server, serve_in_thread, url_of
from curate.targets import Target
from curate.vetting import VettingRecord
from tests.lockutil import curate, lock_repo, write_request
from tests.servers import free_port, proxpi
from tests.test_index_helpers import fill_cache
from tests.upstream import make_upstream

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
UV = shutil.which("uv", path=str(BIN)) or "uv"
TEAM = "2026-11-21-team"
# hostile, but one line (a request's title holds no line break or control character)
TITLE = 'Team "stack" </script><script>window.__pwned=1</script> ]] [tool.x] = 1 \\u0000 \\"'
HOST_TARGETS = ("linux-x86_64-py3.11", "linux-x86_64-py3.12")


def interpreter(version: str) -> str:
    """pyenv's CPython ``version`` (or one on PATH); skip, saying which, when the machine has none."""
    found = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")))
    path = found[-1] if found else shutil.which(f"python{version}")
    if not path:
        pytest.skip(f"no Python {version} interpreter (looked in ~/.pyenv/versions and on PATH)")
    return path


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        {
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_CONFIG": "1",
            "UV_CACHE_DIR": str(tmp / "uv-cache"),
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "NO_COLOR": "1",
        }
    )
    return env


def run(tmp: Path, *cmd: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, env=_env(tmp), timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def installed(python: Path, tmp: Path) -> dict[str, str]:
    code = "import importlib.metadata as m, json; print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"
    got: dict[str, str] = json.loads(run(tmp, str(python), "-c", code).stdout)
    return {k: v for k, v in got.items() if k not in ("pip", "setuptools")}


def _osv(directory: Path, adv_id: str, name: str, version: str, aliases: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    record = {
        "schema_version": "1.6.0",
        "id": adv_id,
        "modified": "2026-01-01T00:00:00Z",
        "aliases": aliases,
        "summary": f"{name} <b>does</b> something bad",
        "affected": [{"package": {"ecosystem": "PyPI", "name": name}, "versions": [version]}],
        "database_specific": {"severity": "HIGH"},
    }
    (directory / f"{adv_id}.json").write_text(json.dumps(record), "utf-8")


@dataclasses.dataclass(frozen=True)
class World:
    root: Path
    public: Path
    url: str  # where public/ is served (site.base_url without the slash)
    access: list[Access]
    built_envs: int
    unavailable: tuple[str, ...]
    cache: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("envs")
    mp = pytest.MonkeyPatch()
    mp.setenv("UV_CACHE_DIR", str(base / "uv-cache"))
    access: list[Access] = []
    server = make_server(base / "repo" / "public", port=free_port(), access=access, quiet=True)
    url = url_of(server)
    with make_upstream(base / "upstream") as up:
        try:
            root = lock_repo(base / "repo", up.index_url)
            path = root / "catalog" / "config.yaml"
            text = path.read_text("utf-8").replace("http://127.0.0.1:8000/", f"{url}/")
            text = text.replace("    source: none", f"    source: osv-dir\n    path: {base / 'osv'}")
            text = text.replace(
                "  waivers: []",
                "  waivers:\n    - id: CVE-2026-1111\n      project: httpish\n"
                "      justification: only used against internal hosts\n      expires: 2099-01-01\n",
            )
            path.write_text(text, "utf-8")
            req = write_request(
                root,
                "team",
                [("webapp", "==2.0"), ("fastmath", "")],
                python=("3.11", "3.12"),
                date="2026-11-21",
            )
            req.write_text(
                req.read_text("utf-8").replace("title: Request team", f"title: {json.dumps(TITLE)}"), "utf-8"
            )
            write_request(root, "tools", [("certy", "")], platforms=("linux",), date="2026-11-22")
            assert curate(root, "lock", "-q") == 0
        finally:
            mp.undo()
        cache = base / "cache"
        fill_cache(up, cache)
    _osv(base / "osv", "GHSA-wwww-xxxx-yyyy", "wincolor", "0.4", ["CVE-2026-2222"])
    _osv(base / "osv", "PYSEC-2026-77", "httpish", "1.1", ["CVE-2026-1111"])
    curate(root, "vet", "--cache-dir", str(cache), "-j", "1", "-q")  # 1: wincolor is blocked
    built = build(root=root, output=root / "public", cache_dir=cache, env={})
    assert built.environments is not None
    stop = serve_in_thread(server)
    yield World(
        root=root,
        public=root / "public",
        url=url,
        access=access,
        built_envs=built.environments.ready,
        cache=cache,
        unavailable=tuple(f"{e.request}/{e.target.id}" for e in built.environments.unavailable),
    )
    stop()


# -- what the build wrote ---------------------------------------------------------------------------------


def test_blocked_targets_get_no_files_and_the_page_says_why(world: World) -> None:
    assert world.unavailable == (f"{TEAM}/windows-amd64-py3.11", f"{TEAM}/windows-amd64-py3.12")
    envs = world.public / "envs" / TEAM
    assert sorted(p.name for p in envs.iterdir()) == list(HOST_TARGETS)
    assert sorted(p.name for p in (envs / HOST_TARGETS[0]).iterdir()) == [
        "pylock.toml",
        "requirements.txt",
        "sbom.cdx.json",
    ]
    api = json.loads((world.public / "api" / "requests" / f"{TEAM}.json").read_text("utf-8"))
    assert api["title"] == TITLE
    assert "requested_by" not in api  # site.show_requesters is false by default: nothing personal
    status = {e["target"]: e["status"] for e in api["environments"]}
    assert status == {
        "linux-x86_64-py3.11": "ready",
        "linux-x86_64-py3.12": "ready",
        "windows-amd64-py3.11": "blocked",
        "windows-amd64-py3.12": "blocked",
    }
    (win,) = (e for e in api["environments"] if e["target"] == "windows-amd64-py3.12")
    assert win["files"] == {}
    assert win["packages"] == []
    (blocker,) = win["blockers"]
    assert (blocker["kind"], blocker["project"], blocker["version"]) == ("blocked", "wincolor", "0.4")
    assert [f["id"] for f in blocker["findings"]] == ["GHSA-wwww-xxxx-yyyy"]
    index = json.loads((world.public / "api" / "requests" / "index.json").read_text("utf-8"))
    assert [r["id"] for r in index["requests"]] == ["2026-11-22-tools", TEAM]

    page = (world.public / "requests" / TEAM / "index.html").read_text("utf-8")
    assert "someone@example.com" not in page  # who asked: only with site.show_requesters
    assert "<script>window.__pwned" not in page  # the title is text
    assert "&lt;/script&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
    install = page[page.index('id="install"') :]
    for target in HOST_TARGETS:
        assert f"uv pip install -r {world.url}/envs/{TEAM}/{target}/pylock.toml" in install
        assert (
            f"pip install --require-hashes --no-deps --index-url {world.url}/simple/ "
            f"-r {world.url}/envs/{TEAM}/{target}/requirements.txt"
        ) in install
    windows = install[install.index('id="windows-amd64-py3.12"') :]
    assert "No environment file for this target" in windows
    assert "wincolor 0.4" in windows
    assert "GHSA-wwww-xxxx-yyyy" in windows
    assert "&lt;b&gt;does&lt;/b&gt;" in windows  # the advisory's text, escaped
    listing = (world.public / "requests" / "index.html").read_text("utf-8")
    assert f'href="{TEAM}/#install"' in listing
    package = (world.public / "packages" / "webapp" / "index.html").read_text("utf-8")
    assert f'href="../../requests/{TEAM}/"' in package
    assert f"{world.url}/requests/{TEAM}/" in (world.public / "sitemap.xml").read_text("utf-8")
    assert "_shell" not in (world.public / "sitemap.xml").read_text("utf-8")


def test_the_requests_api_json_is_the_whole_data_dumped(world: World) -> None:
    """api/requests/<id>.json is written from each package's JSON made once (api_request_json): the
    same bytes as the whole data dumped at once, for hostile titles, requesters, names and URLs, with
    blocked and ready environments, and the same package in several environments."""
    from curate.environments import _dumps, api_request, api_request_json

    odd = 'quote " backslash \\ tab \t newline \n nul \x00 é ✓ \U0001f600 </script> "packages":[]}'
    config = load_config(world.root)
    for show in (False, True):
        shown = dataclasses.replace(config, show_requesters=show)
        renderer = EnvRenderer(
            shown, dataclasses.replace(mirror_locations(config), base_url=f"https://x/{odd}/")
        )
        for envs in load_plans(world.root, config, {}).values():
            assert any(e.ready for e in envs.environments)
            for title, who in ((envs.request.title, envs.request.requested_by), (odd, odd), ("", "")):
                request = dataclasses.replace(envs.request, title=title, requested_by=who)
                changed = dataclasses.replace(envs, request=request)
                assert api_request_json(renderer, changed) == _dumps(api_request(renderer, changed))
            first = next(e for e in envs.environments if e.ready)
            package = first.packages[0]
            renamed = dataclasses.replace(
                package, project=dataclasses.replace(package.project, name=odd), direct=not package.direct
            )
            doubled = dataclasses.replace(first, packages=(renamed, *first.packages))
            changed = dataclasses.replace(envs, environments=(*envs.environments, doubled))
            assert api_request_json(renderer, changed) == _dumps(api_request(renderer, changed))
        assert (
            len(renderer._api_packages)
            < sum(  # made once, not once per environment
                len(e.packages)
                for envs in load_plans(world.root, config, {}).values()
                for e in envs.environments
            )
            * 3
        )


def test_the_files_validate_and_say_what_was_vetted(world: World) -> None:
    config = load_config(world.root)
    for path in sorted((world.public / "envs").glob("*/*/pylock.toml")):
        parsed = Pylock.from_dict(tomllib.loads(path.read_text("utf-8")))
        target = config.target(path.parent.name)
        assert parsed.requires_python is not None
        assert parsed.requires_python.contains(f"{target.python}.4")
        chosen = list(parsed.select(environment=target.marker_environment(), tags=target.tags()))  # type: ignore[arg-type]
        assert len(chosen) == len(parsed.packages) > 0
    folder = world.public / "envs" / TEAM / "linux-x86_64-py3.12"
    lock = tomllib.loads((folder / "pylock.toml").read_text("utf-8"))
    by_name = {p["name"]: p for p in lock["packages"]}
    assert sorted(by_name) == ["certy", "fastmath", "httpish", "webapp"]
    (wheel,) = by_name["fastmath"]["wheels"]
    assert wheel["url"] == f"{world.url}/files/fastmath/{wheel['name']}"
    assert config.target("linux-x86_64-py3.12").accepts_wheel(wheel["name"])
    assert "win" not in wheel["name"]
    assert by_name["webapp"]["dependencies"] == [{"name": "httpish"}]
    assert by_name["httpish"]["index"] == f"{world.url}/simple/"
    for path in sorted((world.public / "envs").glob("*/*/pylock.toml")):  # only what the index serves
        for p in tomllib.loads(path.read_text("utf-8"))["packages"]:
            page = json.loads((world.public / "simple" / p["name"] / "index.json").read_text("utf-8"))
            served = {f["filename"]: f["hashes"]["sha256"] for f in page["files"]}
            for w in p["wheels"]:
                assert served[w["name"]] == w["hashes"]["sha256"], (path, w["name"])
    reqs = (folder / "requirements.txt").read_text("utf-8")
    pins = re.findall(r"^([a-z0-9-]+)==(\S+) \\\n    --hash=sha256:([0-9a-f]{64})$", reqs, re.M)
    assert {(n, v) for n, v, _ in pins} == {(p["name"], p["version"]) for p in lock["packages"]}
    assert {h for _, _, h in pins} == {p["wheels"][0]["hashes"]["sha256"] for p in lock["packages"]}

    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    validator = JsonStrictValidator(SchemaVersion.V1_6)
    for path in sorted((world.public / "envs").glob("*/*/sbom.cdx.json")):
        assert validator.validate_str(path.read_text("utf-8")) is None, path
    sbom = json.loads((folder / "sbom.cdx.json").read_text("utf-8"))
    assert sbom["metadata"]["component"]["description"] == TITLE
    root_props = {p["name"] for p in sbom["metadata"]["component"]["properties"]}
    assert "curate:target" in root_props
    assert "curate:requested-by" not in root_props  # site.show_requesters is false by default
    comps = {c["name"]: c for c in sbom["components"]}
    assert comps["certy"]["licenses"] == [{"license": {"id": "MPL-2.0"}}]
    assert comps["webapp"]["purl"] == "pkg:pypi/webapp@2.0?file_name=webapp-2.0-py3-none-any.whl"
    assert comps["webapp"]["hashes"] == [
        {"alg": "SHA-256", "content": by_name["webapp"]["wheels"][0]["hashes"]["sha256"]}
    ]
    props = {p["name"]: p["value"] for p in comps["httpish"]["properties"]}
    assert props["curate:vetting:status"] == "pass"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", props["curate:vetting:vetted"])
    assert props["curate:vetting:known-vulnerabilities"] == "checked (osv-dir)"
    assert "curate:direct" not in props  # one component per file, shared by every request's SBOM
    (vuln,) = sbom["vulnerabilities"]
    assert vuln["id"] == "PYSEC-2026-77"
    assert [r["id"] for r in vuln["references"]] == ["CVE-2026-1111"]
    assert vuln["affects"] == [{"ref": comps["httpish"]["bom-ref"]}]
    assert vuln["analysis"]["response"] == ["will_not_fix"]
    assert vuln["analysis"]["detail"] == "Waived until 2099-01-01: only used against internal hosts"
    assert vuln["ratings"] == [{"severity": "high"}]
    deps = {d["ref"]: d.get("dependsOn", []) for d in sbom["dependencies"]}
    assert deps["environment"] == sorted([comps["fastmath"]["bom-ref"], comps["webapp"]["bom-ref"]])
    assert deps[comps["webapp"]["bom-ref"]] == [comps["httpish"]["bom-ref"]]


def test_the_sbom_is_what_the_library_makes_of_the_whole_bom(world: World) -> None:
    config = load_config(world.root)
    plans = load_plans(world.root, config, {})
    envs = plans[TEAM]
    env = envs.get("linux-x86_64-py3.11")
    assert env is not None
    renderer = SbomRenderer(mirror_locations(config), tool_version="0")
    assert json.loads(renderer.render(env, envs.request)) == json.loads(
        library_json(renderer.bom(env, envs.request))
    )


def test_the_sboms_root_is_the_librarys_for_any_request(world: World) -> None:
    """The environment's own component is the library's serialisation per target with the request's id,
    title and requester put in (curate.sbom: one per target, not one per environment): the same data as
    the library's own, whatever the text."""
    from curate.sbom import _as_json, _dumps

    config = load_config(world.root)
    envs = load_plans(world.root, config, {})[TEAM]
    env = envs.get("linux-x86_64-py3.11")
    assert env is not None
    for show in (False, True):
        renderer = SbomRenderer(mirror_locations(config), tool_version="0", show_requesters=show)
        for title, who in [
            (TITLE, "someone@example.com"),
            ('quote " backslash \\ tab \t newline \n é ✓ \U0001f600', "Ünïcode <x@example.com>"),
            ("\x00curate:slot:name\x00", "\x00curate:slot:description\x00"),  # a title that looks like a slot
            ("", ""),  # left out by the library, or not: serialised as it is
        ]:
            request = dataclasses.replace(envs.request, title=title, requested_by=who)
            assert renderer._root_text(env, request) == _dumps(_as_json(renderer._root(env, request))), (
                show,
                title,
            )
        assert len(renderer._roots) == 1  # one template for the target


def test_each_sbom_component_is_the_librarys_for_any_package(world: World) -> None:
    """A component is the library's serialisation of one of its shape with a placeholder for each value,
    the values put in (curate.sbom._component_slots): the same text as the library's own, whatever the
    values (quotes, control characters, Unicode, URLs the library rewrites, placeholders' look-alikes,
    duplicate and same-named properties, no licence or description or home page); a value that does
    not fit a placeholder is serialised by the library."""
    from curate.sbom import _as_json, _component_slots, _dumps
    from curate.vetting import AppliedWaiver, Finding

    config = load_config(world.root)
    envs = load_plans(world.root, config, {})[TEAM]
    env = envs.get("linux-x86_64-py3.11")
    assert env is not None
    renderer = SbomRenderer(mirror_locations(config), tool_version="0")
    packages = list(env.packages)
    first = packages[0]
    record = first.version.vetting
    assert record is not None
    odd = 'quote " backslash \\ tab \t newline \n é ✓ \U0001f600 </script>'
    waiver = AppliedWaiver(justification=odd, expires=dt.date(2099, 1, 1))
    findings = (
        Finding(id="lookalike", kind="lookalike", decision="warn", message=odd),
        Finding(id="lookalike", kind="lookalike", decision="warn", message=odd),  # the same twice
        Finding(id="a", kind="suspicious-code", decision="waived", message="z", waiver=waiver),
        Finding(id="b", kind="suspicious-code", decision="warn", message="\x00curate:slot:property:0000\x00"),
        Finding(id="c", kind="suspicious-code", decision="warn", message=""),
    )
    for summary, home, licence, version, filename, found in [
        (
            odd,
            "https://home.example/a b/[x]/%zz",
            "MIT OR (Apache-2.0 AND BSD-3-Clause)",
            "1.0",
            "x.whl",
            findings,
        ),
        ("", "ftp://home.example/", "", "2.0rc1", "x-1.0 [1].tar.gz", findings[:2]),
        ("\x00curate:slot:name\x00", "", "Some Licence, v2", "1.0", "x.whl", ()),
        # licence texts that read as the placeholders without a NUL (a review found them replaced)
        ("s", "https://h.example/", "pkg:pypi/curate-slot-purl", "1.0", "x.whl", ()),
        ("s", "https://h.example/", "https://slot.invalid/download", "1.0", "x.whl", ()),
        ("s", "https://h.example/", "https://slot.invalid/home", "1.0", "x.whl", ()),
        (
            "  spaced  ",
            "http://h.example/%41",
            "GPL-3.0-or-later WITH Classpath-exception-2.0",
            "0",
            "é.whl",
            (findings[2], findings[4]),
        ),
    ]:
        vetting = dataclasses.replace(
            record, summary=summary, home_page=home, license=licence, findings=found
        )
        version_entry = dataclasses.replace(first.version, version=version, vetting=vetting, yanked=odd)
        file = dataclasses.replace(first.file, filename=filename)
        packages.append(dataclasses.replace(first, version=version_entry, file=file))
    packages.append(dataclasses.replace(first, project=dataclasses.replace(first.project, name=odd)))
    fitted = 0
    for pkg in packages:
        inputs = renderer._component_inputs(pkg)
        fitted += _component_slots(inputs) is not None
        assert renderer._component_json(pkg, inputs) == _dumps(
            _as_json(renderer._component_model(pkg, inputs))
        )
    # the placeholders were used but where a value has a NUL (a summary, a finding's message)
    assert fitted == len(env.packages) + 3
    assert len(renderer._templates) < fitted


def test_a_templates_text_filled_is_the_filled_templates_json() -> None:
    """curate.sbom._Text: a template's JSON text cut at its placeholders, each value's JSON put in, is
    the text of the template filled (_fill) then serialised, for hostile values, look-alikes of the
    placeholders (keys, substrings, values not given) and every kind of JSON value around them."""
    from curate.sbom import _SLOT_DOWNLOAD, _SLOT_NAME, _SLOT_PURL, _dumps, _fill, _Text

    odd = 'quote " backslash \\ tab \t newline \n nul \x00 é ✓ \U0001f600 </script> \u2028'
    template = {
        "name": _SLOT_NAME,
        _SLOT_NAME: "a key that reads as a placeholder stays a key",
        "x": [_SLOT_PURL, {"y": _SLOT_DOWNLOAD, "z": [], "w": {}}, 1, 2.5, True, False, None, [[]]],
        "unfilled": "\x00curate:slot:missing\x00",
        "near": "x\x00curate:slot:name\x00",
        "quoted": '"\x00curate:slot:name\x00"',
        "odd": odd,
        "": [_SLOT_NAME, _SLOT_NAME],
    }
    for values in (
        {_SLOT_NAME: odd, _SLOT_PURL: "pkg:pypi/x@1?file_name=x%20y.whl", _SLOT_DOWNLOAD: ""},
        {_SLOT_NAME: _SLOT_PURL, _SLOT_PURL: _SLOT_NAME},  # a value that reads as a placeholder
        {_SLOT_NAME: "".join(map(chr, range(0x300))), _SLOT_PURL: "\ud800 \udfff \u2028\u2029"},
        {},
    ):
        text = _Text(template)
        assert text.fill(values) == _dumps(_fill(template, values))
        assert json.loads(text.fill(values)) == _fill(template, values)
    plains: list[object] = ["x", _SLOT_NAME, [], {}, 1, None, [_SLOT_NAME]]
    for plain in plains:
        assert _Text(plain).fill({_SLOT_NAME: odd}) == _dumps(_fill(plain, {_SLOT_NAME: odd}))


def test_the_sboms_components_are_kept_in_the_file_cache(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(world.root)
    plans = load_plans(world.root, config, {})
    envs = plans[TEAM]
    env = envs.get("linux-x86_64-py3.11")
    assert env is not None
    fresh = SbomRenderer(mirror_locations(config), tool_version="0").render(env, envs.request)
    first = SbomRenderer(mirror_locations(config), tool_version="0", cache=tmp_path)
    assert first.render(env, envs.request) == fresh
    first.save()
    (store,) = (tmp_path / "sbom").iterdir()
    assert len(json.loads(store.read_bytes())) == len(env.packages)  # one component per file
    # a rebuild has the library build no component: each one's JSON is read from the cache
    again = SbomRenderer(mirror_locations(config), tool_version="0", cache=tmp_path)
    with monkeypatch.context() as m:
        m.setattr(SbomRenderer, "_component_model", lambda *a: pytest.fail("component built again"))
        assert again.render(env, envs.request) == fresh
    # what a component is made of is its key: another location is another component
    moved = dataclasses.replace(
        mirror_locations(config), index="https://mirror.example/simple/", base_url="https://mirror.example/"
    )
    other = SbomRenderer(moved, tool_version="0", cache=tmp_path).render(env, envs.request)
    assert other == SbomRenderer(moved, tool_version="0").render(env, envs.request)
    assert "https://mirror.example/files/" in other
    # a tampered component (another URL, hash, version or vetting status, or not the library's JSON) is
    # not used: it is made again, and the store keeps the right one
    SbomRenderer(mirror_locations(config), tool_version="0", cache=tmp_path).render(env, envs.request)
    first.save()
    stored = json.loads(store.read_bytes())
    good = dict(stored)
    digests = sorted(stored)
    tampers: list[Callable[[str], str]] = [
        lambda c: c.replace("/files/", "/evil/"),
        lambda c: c.replace(
            '"externalReferences":[', '"externalReferences":[{"type":"website","url":"https://e.example/"},'
        ),
        lambda c: re.sub(r'"content":"[0-9a-f]{64}"', '"content":"' + "0" * 64 + '"', c),
        lambda c: c.replace('"version":"', '"version":"9', 1),
        lambda c: c.replace('"curate:vetting:status","value":"', '"curate:vetting:status","value":"x'),
        lambda c: c[:-1] + ',"properties":[]}',
        lambda c: "[]",
        lambda c: '{"properties":[1]}',
    ]
    tampered = {d: tampers[i % len(tampers)](stored[d]) for i, d in enumerate(digests)}
    assert all(tampered[d] != stored[d] for d in digests)
    store.write_text(json.dumps(tampered), "utf-8")
    again = SbomRenderer(mirror_locations(config), tool_version="0", cache=tmp_path)
    assert again.render(env, envs.request) == fresh
    again.save()
    assert json.loads(store.read_bytes()) == good
    # a damaged store is ignored
    store.write_text("{not json", "utf-8")
    assert (
        SbomRenderer(mirror_locations(config), tool_version="0", cache=tmp_path).render(env, envs.request)
        == fresh
    )


def test_the_pylocks_tool_table_is_what_tomli_w_writes(world: World) -> None:
    """The ``[tool.curate]`` table is put together from each key's line as tomli_w writes it alone."""
    import tomli_w

    config = load_config(world.root)
    envs = load_plans(world.root, config, {})[TEAM]
    env = envs.get("linux-x86_64-py3.12")
    assert env is not None
    for request in (TEAM, 'x"y\\z\n\tq é \x00', ""):
        renderer = EnvRenderer(config, mirror_locations(config))
        text = renderer.pylock(dataclasses.replace(env, request=request))
        table = {"request": request, "target": env.target.id, "page": renderer.request_page(request)}
        assert text.endswith("\n" + tomli_w.dumps({"tool": {"curate": table}}))


def test_the_pylock_entries_are_kept_in_the_file_cache(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each distinct entry is validated with packaging.pylock and written with tomli_w when new, then
    kept in the file cache: a rebuild reads it back (the same bytes) and validates only new ones."""
    import packaging.pylock

    from curate.environments import pylock_store

    config = load_config(world.root)
    envs = load_plans(world.root, config, {})[TEAM]
    env = envs.get("linux-x86_64-py3.12")
    assert env is not None
    fresh = EnvRenderer(config, mirror_locations(config)).render(env, "pylock", envs.request)
    first = EnvRenderer(config, mirror_locations(config), cache=tmp_path)
    assert first.render(env, "pylock", envs.request) == fresh
    first.save()
    store = pylock_store(tmp_path)
    assert len(json.loads(store.read_bytes())) == len(env.packages)
    validated: list[object] = []
    real = packaging.pylock.Pylock.from_dict

    def counting(data: dict[str, object]) -> object:
        validated.append(data)
        return real(data)

    monkeypatch.setattr(packaging.pylock.Pylock, "from_dict", counting)
    again = EnvRenderer(config, mirror_locations(config), cache=tmp_path)
    assert again.render(env, "pylock", envs.request) == fresh
    assert len(validated) == 1  # the header only: every entry was read from the cache
    # a build that renders no pylock (a rebuild linking every environment's files) leaves the store
    # as it was, for the next build that renders them (it used to empty it)
    kept = store.read_bytes()
    EnvRenderer(config, mirror_locations(config), cache=tmp_path).save()
    assert store.read_bytes() == kept
    # a tampered entry (another URL, hash, size or name; one more file or package) is not used: the lock
    # is what a build without the cache writes, those entries validated again, the store put right
    stored = json.loads(store.read_bytes())
    digests = sorted(stored)
    tampers: list[Callable[[str], str]] = [
        lambda t: re.sub(r'url = "[^"]*"', 'url = "https://evil.example/x.whl"', t),
        lambda t: re.sub(r'sha256 = "[0-9a-f]{64}"', 'sha256 = "' + "0" * 64 + '"', t),
        lambda t: re.sub(r"size = \d+", "size = 1", t),
        lambda t: t.replace('name = "', 'name = "x', 1),
        lambda t: t + '\n[[packages]]\nname = "evil"\n',
        lambda t: t + "extra = 1\n",
    ]
    tampered = {d: tampers[i % len(tampers)](stored[d]) for i, d in enumerate(digests)}
    assert all(tampered[d] != stored[d] for d in digests)
    store.write_text(json.dumps(tampered), "utf-8")
    validated.clear()
    again = EnvRenderer(config, mirror_locations(config), cache=tmp_path)
    assert again.render(env, "pylock", envs.request) == fresh
    assert len(validated) == 1 + len(env.packages)
    again.save()
    assert json.loads(store.read_bytes()) == stored
    store.write_text("{not json", "utf-8")  # a damaged store is ignored
    validated.clear()
    assert (
        EnvRenderer(config, mirror_locations(config), cache=tmp_path).render(env, "pylock", envs.request)
        == fresh
    )
    assert len(validated) == 1 + len(env.packages)


def test_curate_env_writes_the_same_files_offline(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = "linux-x86_64-py3.12"
    for fmt in FORMATS:
        out = tmp_path / fmt / ("pylock.toml" if fmt == "pylock" else "file")
        assert curate(world.root, "env", TEAM, "--target", target, "--format", fmt, "-o", str(out)) == 0
        name = {"pylock": "pylock.toml", "requirements": "requirements.txt", "cyclonedx": "sbom.cdx.json"}[
            fmt
        ]
        assert out.read_bytes() == (world.public / "envs" / TEAM / target / name).read_bytes()
    capsys.readouterr()
    assert curate(world.root, "env", f"requests/{TEAM}.yaml", "--target", "windows-amd64-py3.11") == 1
    err = capsys.readouterr().err
    assert (
        "has no environment for windows-amd64-py3.11: blocked by vetting: wincolor 0.4 (vulnerability " in err
    )
    assert "GHSA-wwww-xxxx-yyyy" in err
    assert curate(world.root, "env", TEAM, "--target", "linux-x86_64-py3.13") == 2
    assert "Perhaps you meant linux-x86_64-py3.1" in capsys.readouterr().err
    assert curate(world.root, "env", "2026-11-21-taem") == 2
    assert f"Perhaps you meant {TEAM}" in capsys.readouterr().err


def test_index_only_rebuild_updates_the_environments_in_place(world: World, tmp_path: Path) -> None:
    tree = tmp_path / "public"
    shutil.copytree(world.public, tree)
    stale = tree / "envs" / "2020-01-01-gone" / "linux-x86_64-py3.12" / "pylock.toml"
    stale.parent.mkdir(parents=True)
    stale.write_text("old", "utf-8")
    changed = tree / "envs" / TEAM / "linux-x86_64-py3.12" / "requirements.txt"
    changed.write_text("tampered", "utf-8")
    before = (tree / "envs" / TEAM / "linux-x86_64-py3.11" / "pylock.toml").stat().st_ino
    stats = write_environment_files(tree, world.root, load_config(world.root), env={}, in_place=True)
    assert stats.ready == world.built_envs
    assert not (tree / "envs" / "2020-01-01-gone").exists()
    assert (
        changed.read_bytes()
        == (world.public / "envs" / TEAM / "linux-x86_64-py3.12" / "requirements.txt").read_bytes()
    )
    assert (tree / "envs" / TEAM / "linux-x86_64-py3.11" / "pylock.toml").stat().st_ino == before  # untouched


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_written_beside_the_index_in_a_forked_process(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big catalog's environments are planned, and their files and the request pages written, by a
    forked process started once the site has read the catalog, while the site and the index are
    written: the same bytes as written here (the requests list shows the statuses it sent); a failure
    there, planning or writing, fails the build and leaves the published tree as it was."""
    import curate.build as building
    import curate.environments
    import curate.parallel
    import curate.site
    from curate.sbom import SbomRenderer as Renderer
    from curate.site import SiteRenderer

    forks: list[object] = []
    start = building.EnvWriter.start

    during_site: list[bool] = []

    def counted(*args: object, **kwargs: object) -> building.EnvWriter | None:
        writer = start(*args, **kwargs)  # type: ignore[arg-type]
        forks.append(writer)
        during_site.append(any(f.function == "on_config" for f in inspect.stack()))
        return writer

    monkeypatch.setattr(building, "ENV_FORK_MINIMUM", 0)
    monkeypatch.setattr(curate.parallel, "workers", lambda n, minimum: 2)  # the test's threads: harmless here
    monkeypatch.setattr(building.EnvWriter, "start", counted)
    parent = os.getpid()
    request_page = SiteRenderer.request

    def beside(renderer: SiteRenderer, request: Request) -> str:
        assert os.getpid() != parent, "a request page rendered in the build's own process"
        return request_page(renderer, request)

    monkeypatch.setattr(SiteRenderer, "request", beside)
    plan = curate.environments.plan  # what curate.site plans with

    def planned_beside(*args: Any, **kwargs: Any) -> Any:
        assert os.getpid() != parent, "the environments planned in the build's own process"
        return plan(*args, **kwargs)

    monkeypatch.setattr(curate.site, "plan_environments", planned_beside)
    out = tmp_path / "public"
    built = build(root=world.root, output=out, cache_dir=world.cache, env={})
    assert forks
    assert all(w is not None for w in forks)
    assert during_site == [True]  # started as soon as the site read the catalog: beside mkdocs and the index
    assert built.environments is not None
    assert built.environments.ready == world.built_envs
    assert built.environments.files == len(_tree(out / "envs")) + len(
        list((out / "api" / "requests").iterdir())
    )
    for part in ("envs", "api/requests", "requests"):  # the world's: written in one process
        assert _tree(out / part) == _tree(world.public / part), part
    assert (out / "requests" / TEAM / "index.html").is_file()
    assert not (out / "requests" / "_shell").exists()

    before = _tree(out)
    # nothing to link from the published tree (curate.reuse): every environment is rendered again
    monkeypatch.setattr(building, "ENV_RECORD", "none.json")
    monkeypatch.setattr(Renderer, "render", lambda *a: (_ for _ in ()).throw(EnvironmentUnavailable("broke")))
    with pytest.raises(EnvironmentUnavailable, match="broke"):
        build(root=world.root, output=out, cache_dir=world.cache, env={})
    assert _tree(out) == before  # nothing swapped in

    def die(*args: object) -> str:
        if os.getpid() != parent:
            os._exit(3)  # the forked process dies
        raise AssertionError("rendered in the test's own process")

    monkeypatch.setattr(Renderer, "render", die)
    with pytest.raises(BuildError, match=r"stopped without finishing \(exit code 3\)"):
        build(root=world.root, output=out, cache_dir=world.cache, env={})
    assert _tree(out) == before
    # planning fails there, or it dies planning: the site, waiting for the statuses, fails the build
    with monkeypatch.context() as m:
        m.setattr(
            curate.site,
            "plan_environments",
            lambda *a, **k: (_ for _ in ()).throw(EnvironmentUnavailable("plan")),
        )
        with pytest.raises(EnvironmentUnavailable, match="plan"):
            build(root=world.root, output=out, cache_dir=world.cache, env={})
        assert _tree(out) == before
        m.setattr(curate.site, "plan_environments", lambda *a, **k: os._exit(4))
        with pytest.raises(
            BuildError, match=r"planning the environments stopped without finishing \(exit code 4\)"
        ):
            build(root=world.root, output=out, cache_dir=world.cache, env={})
        assert _tree(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name != "public"]  # no staging tree left behind

    # the site fails while the forked process writes: it is stopped, and nothing is swapped in; so
    # does a request page that fails there
    monkeypatch.undo()
    monkeypatch.setattr(building, "ENV_FORK_MINIMUM", 0)
    monkeypatch.setattr(curate.parallel, "workers", lambda n, minimum: 2)
    monkeypatch.setattr(building, "ENV_RECORD", "none.json")
    monkeypatch.setattr(curate.site, "REQUEST_PAGES_RECORD", "none.json")  # each page is rendered
    for failing in ("requests_page", "request"):
        during_site.clear()
        with monkeypatch.context() as m:
            m.setattr(building.EnvWriter, "start", counted)
            m.setattr(SiteRenderer, failing, lambda *a: (_ for _ in ()).throw(EnvironmentUnavailable("site")))
            with pytest.raises(EnvironmentUnavailable, match="site"):
                build(root=world.root, output=out, cache_dir=world.cache, env={})
        assert during_site == [True]
        assert _tree(out) == before
        assert not [p for p in tmp_path.iterdir() if p.name != "public"]


def test_what_the_build_and_its_writer_send_each_other_may_be_big(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statuses the forked writer sends and what the site read after it was started (the smoke
    results: one per request and target) are each far more than a pipe holds: neither process waits on
    the other sending (each would wait for the other to read)."""
    import signal

    import curate.build as building
    import curate.parallel
    import curate.site

    monkeypatch.setattr(building, "ENV_FORK_MINIMUM", 0)
    monkeypatch.setattr(curate.parallel, "workers", lambda n, minimum: 2)
    statuses_of, read_later = curate.site.statuses_of, curate.site.read_later
    padding = {f"not-a-request-{i}": (("linux-x86_64", "ready"),) * 10 for i in range(20_000)}

    def big_statuses(plans: Any) -> Any:
        return {**padding, **statuses_of(plans)}  # keys no request has: shown nowhere

    def big_later(data: Any) -> Any:
        later = read_later(data)
        return {**later, "smoke": {**{k: [] for k in padding}, **later["smoke"]}}

    monkeypatch.setattr(curate.site, "statuses_of", big_statuses)
    monkeypatch.setattr(curate.site, "read_later", big_later)

    def stuck(*args: object) -> None:
        raise AssertionError("the build and its writer wait on each other")

    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(120)
    try:
        built = build(root=world.root, output=tmp_path / "public", cache_dir=world.cache, env={})
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert built.environments is not None
    assert built.environments.ready == world.built_envs
    assert _tree(tmp_path / "public" / "requests") == _tree(world.public / "requests")


def test_the_writer_stops_when_the_build_is_gone(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The forked writer holds none of the build's pipe ends: when the build is gone (killed) before it
    lets it write, it sees the pipe's end and stops, instead of waiting for ever (and holding what it
    inherited, such as the build's lock)."""
    import curate.build as building
    import curate.parallel
    import curate.site

    monkeypatch.setattr(building, "ENV_FORK_MINIMUM", 0)
    monkeypatch.setattr(curate.parallel, "workers", lambda n, minimum: 2)
    read: list[curate.site.SiteData] = []

    def keep(data: curate.site.SiteData) -> None:
        read.append(data)

    config = load_config(world.root)
    data = curate.site.collect(world.root, config, env={}, cache_dir=world.cache, plan_beside=keep)
    data.history_job.stop()
    writer = building.EnvWriter.start(tmp_path / "tree", config, read[0], cache_dir=world.cache)
    assert writer is not None
    process = writer._process
    writer._control.close()  # what the build's end of the pipes sees when it is killed
    writer._receive.close()
    process.join(60)
    assert not process.is_alive(), "the writer waits for a build that is gone"
    assert not (tmp_path / "tree").exists()  # it wrote nothing


def test_a_rebuild_links_the_environments_whose_inputs_are_unchanged(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild hard-links from the published tree each environment file written from the same inputs
    (curate.reuse, the record in the file cache), renders those whose inputs changed, and does not reuse
    a published file changed since it was written: the tree is the same bytes as a build from scratch."""
    import curate.build as building

    root = tmp_path / "repo"
    shutil.copytree(world.root, root, ignore=shutil.ignore_patterns("public"), symlinks=True)
    cache = tmp_path / "cache"
    shutil.copytree(world.cache, cache)
    out = tmp_path / "public"
    for fork in (False, True):  # written here, then by the forked process
        monkeypatch.setattr(building, "ENV_FORK_MINIMUM", 0 if fork else 10**9)
        if fork:
            import curate.parallel

            monkeypatch.setattr(curate.parallel, "workers", lambda n, minimum: 2)
        build(root=root, output=out, cache_dir=cache, env={})
        assert _tree(out / "envs") == _tree(world.public / "envs")
        inodes = {p: p.stat().st_ino for p in (out / "envs").rglob("*") if p.is_file()}
        pages = _tree(out / "requests")
        page_inodes = {p: p.stat().st_ino for p in (out / "requests").rglob("*") if p.is_file()}
        # a published request page changed since (same size): written again, not linked
        tampered_page = out / "requests" / TEAM / "index.html"
        tampered_page.write_bytes(tampered_page.read_bytes().replace(b"<", b"(", 1))
        with monkeypatch.context() as m:
            if not fork:  # nothing is rendered: every file is linked
                import curate.environments

                m.setattr(EnvRenderer, "render", lambda *a: pytest.fail("rendered"))
                m.setattr(curate.environments, "api_request", lambda *a: pytest.fail("api JSON made"))
            build(root=root, output=out, cache_dir=cache, env={})
        assert {p: p.stat().st_ino for p in (out / "envs").rglob("*") if p.is_file()} == inodes, fork
        assert _tree(out / "envs") == _tree(world.public / "envs")
        assert _tree(out / "requests") == pages  # the same pages; the unchanged ones kept their inode
        now_pages = {p: p.stat().st_ino for p in (out / "requests").rglob("*") if p.is_file()}
        assert {p for p in now_pages if now_pages[p] != page_inodes[p]} == {tampered_page}, fork

    # the envs/ folder the rebuild replaced was kept beside the output and is taken over by the next one
    # (curate.reuse: its folders, and the files that are the live ones): whatever else it holds is
    # removed, and nothing it leads to is written or read
    from curate.staging import spare_path

    spare = spare_path(out, "envs")
    assert spare.is_dir()
    assert {p.relative_to(spare) for p in spare.rglob("*")} == {
        p.relative_to(out / "envs") for p in (out / "envs").rglob("*")
    }
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("secret", "utf-8")
    shutil.rmtree(spare / TEAM / HOST_TARGETS[0])
    (spare / TEAM / HOST_TARGETS[0]).symlink_to(outside, target_is_directory=True)
    (spare / TEAM / HOST_TARGETS[1] / "pylock.toml").unlink()
    (spare / TEAM / HOST_TARGETS[1] / "pylock.toml").symlink_to(secret)
    (spare / TEAM / HOST_TARGETS[1] / "requirements.txt").unlink()
    (spare / TEAM / HOST_TARGETS[1] / "requirements.txt").write_text("another file", "utf-8")
    os.mkfifo(spare / TEAM / HOST_TARGETS[1] / "sbom.cdx.json.fifo")
    (spare / TEAM / "stale.txt").write_text("stale", "utf-8")
    (spare / "2020-01-01-gone" / "linux-x86_64-py3.12").mkdir(parents=True)
    (spare / "2020-01-01-gone" / "linux-x86_64-py3.12" / "pylock.toml").write_text("old", "utf-8")
    inodes = {p: p.stat().st_ino for p in (out / "envs").rglob("*") if p.is_file()}
    build(root=root, output=out, cache_dir=cache, env={})
    assert _tree(out / "envs") == _tree(world.public / "envs")
    assert not [p for p in (out / "envs").rglob("*") if p.is_symlink() or not (p.is_dir() or p.is_file())]
    assert {p: p.stat().st_ino for p in (out / "envs").rglob("*") if p.is_file()} == inodes  # the live files
    assert not list(outside.iterdir())
    assert secret.read_text("utf-8") == "secret"
    assert spare.is_dir()  # the envs/ this build replaced (the cleaned spare went live), for the next

    # a changed input (the tools request's title, in its SBOMs) is rendered again, the others linked; a
    # published file changed since (its size and modification time kept) is not reused
    tools = next((root / "requests").glob("*-tools.yaml"))
    tools.write_text(
        tools.read_text("utf-8").replace("title: Request tools", "title: Tools, renamed"), "utf-8"
    )
    tampered = out / "envs" / TEAM / "linux-x86_64-py3.12" / "requirements.txt"
    st = tampered.stat()
    text = tampered.read_bytes()
    tampered.write_bytes(text.replace(b"==", b"~="))
    os.utime(tampered, ns=(st.st_atime_ns, st.st_mtime_ns))
    by_rel = {
        p.relative_to(out).as_posix(): p.stat().st_ino for p in (out / "envs").rglob("*") if p.is_file()
    }
    build(root=root, output=out, cache_dir=cache, env={})
    now = {p.relative_to(out).as_posix(): p.stat().st_ino for p in (out / "envs").rglob("*") if p.is_file()}
    assert set(now) == set(by_rel)
    new = {rel for rel in now if now[rel] != by_rel[rel]}
    # the tools SBOMs are new bytes; its other files were rendered again, found to be the live bytes and
    # linked (curate.staging.keep_unchanged); the tampered file is the right bytes again
    tools_sboms = {rel for rel in now if "-tools/" in rel and rel.endswith("/sbom.cdx.json")}
    assert tools_sboms
    assert new == tools_sboms | {tampered.relative_to(out).as_posix()}
    assert tampered.read_bytes() == text
    assert b"Tools, renamed" in next((out / "envs").glob("*-tools/*/sbom.cdx.json")).read_bytes()
    fresh = tmp_path / "fresh"
    (cache / "published" / "envs.json").unlink()
    build(root=root, output=fresh, cache_dir=cache, env={})
    assert _tree(out / "envs") == _tree(fresh / "envs")
    assert _tree(out / "api" / "requests") == _tree(fresh / "api" / "requests")


@pytest.mark.parametrize("writer", ["forked", "here"])
def test_a_rebuild_links_the_request_pages_made_from_the_same_key(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    writer: str,
) -> None:
    """A rebuild links each published request page whose key (its body's: everything it shows, and its
    shell's) is the one it was written from, its bytes checked, and renders no other: a page changed
    since is rendered again, and so is every page whose data changed (a waiver that expired blocks an
    environment): the pages are those a build from scratch makes. The same whether the forked writer
    writes them or the build's own process does (``here``: one core, few requests)."""
    import curate.build as building
    import curate.parallel
    from curate.cli import main
    from curate.reuse import code_digest
    from curate.site import SiteRenderer

    monkeypatch.setattr(building, "ENV_FORK_MINIMUM", 0)
    monkeypatch.setattr(curate.parallel, "workers", lambda n, minimum: 2 if writer == "forked" else 1)
    if writer == "here":  # as on one core: no writer is forked
        monkeypatch.setattr(building.EnvWriter, "start", lambda *args, **kwargs: None)
    root = tmp_path / "repo"
    shutil.copytree(world.root, root, ignore=shutil.ignore_patterns("public"), symlinks=True)
    cache = tmp_path / "cache"
    shutil.copytree(world.cache, cache)
    out = tmp_path / "public"
    rendered = tmp_path / "rendered.txt"
    real = SiteRenderer.request

    def spy(self: SiteRenderer, request: Request) -> str:
        with rendered.open("a", encoding="utf-8") as fh:  # (in the forked writer)
            fh.write(request.id + "\n")
        return real(self, request)

    monkeypatch.setattr(SiteRenderer, "request", spy)

    def build_into(folder: Path, **env: str) -> tuple[list[str], dict[str, bytes]]:
        rendered.write_text("", "utf-8")
        build(root=root, output=folder, cache_dir=cache, env=env)
        pages = {rel: data for rel, data in _tree(folder / "requests").items() if rel.count("/") == 1}
        return sorted(rendered.read_text("utf-8").split()), pages

    ids = sorted(p.stem for p in (root / "requests").glob("*.yaml"))
    assert len(ids) == 2
    assert build_into(out)[0] == ids  # the first build renders each
    done, pages = build_into(out)
    assert done == []
    inodes = {p: p.stat().st_ino for p in (out / "requests").glob("*/index.html")}
    assert len(inodes) == 2
    done, again = build_into(out)
    assert (done, again) == ([], pages)
    assert {p: p.stat().st_ino for p in (out / "requests").glob("*/index.html")} == inodes  # linked
    # and the environments' files, as curate build says
    assert main(["-C", str(root), "build", "-o", str(out), "--cache-dir", str(cache)]) == 0
    files = len([p for p in (out / "envs").rglob("*") if p.is_file()]) + len(
        list(root.glob("requests/*.yaml"))
    )
    said = capsys.readouterr().out
    assert f"; {files} of the {files + 1} files of envs/ and api/requests/ unchanged, linked from the" in said

    # a published page changed since it was written (its size kept): rendered again, not linked
    page = out / "requests" / TEAM / "index.html"
    page.write_bytes(page.read_bytes().replace(b"<", b"(", 1))
    done, again = build_into(out)
    assert (done, again) == ([TEAM], pages)

    # the waiver the team's environments need has expired: their status, the page's too
    done, expired = build_into(out, CURATE_TODAY="2100-01-01")
    assert TEAM in done
    assert expired != pages
    assert b"curate-env-blocked" in expired[f"{TEAM}/index.html"]
    assert b"waiver" in expired[f"{TEAM}/index.html"]
    assert build_into(out, CURATE_TODAY="2100-01-01") == ([], expired)
    assert build_into(out) == (done, pages)  # and back
    # a build from scratch makes the same pages (the file cache's record is its output's then: the next
    # build of the other output renders each page again)
    assert build_into(tmp_path / "fresh", CURATE_TODAY="2100-01-01") == (ids, expired)
    assert build_into(out) == (ids, pages)
    assert build_into(out) == ([], pages)

    # curate build --rebuild renders each page (and environment file) again, and records them
    rendered.write_text("", "utf-8")
    render = EnvRenderer.render

    def render_spy(self: EnvRenderer, env: Environment, fmt: Any, request: Request) -> str:
        with rendered.open("a", encoding="utf-8") as fh:
            fh.write(f"{env.folder}/{fmt}\n")
        return render(self, env, fmt, request)

    with monkeypatch.context() as m:
        m.setattr(EnvRenderer, "render", render_spy)
        build(root=root, output=out, cache_dir=cache, env={}, rebuild=True)
    done = rendered.read_text("utf-8").split()
    assert [rid for rid in done if not rid.startswith("envs/")] == ids
    assert sorted(rid for rid in done if rid.startswith("envs/")) == sorted(
        f"{e.parent.relative_to(out).as_posix()}/{fmt}"
        for e in out.glob("envs/*/*/pylock.toml")
        for fmt in FORMATS
    )
    assert build_into(out) == ([], pages)

    # curate's code or templates changed while a build ran: the pages it rendered with what it had
    # loaded are not recorded as what the new code makes (the next build renders each page)
    with monkeypatch.context() as m:
        m.setattr(curate_site, "code_fingerprint", lambda *a: "changed on disk since")
        assert build_into(out) == ([], pages)
    assert build_into(out) == (ids, pages)
    assert build_into(out) == ([], pages)

    # the same for the environments' files (their code or libraries changed during the build)
    envs = sorted(rel for rel in _tree(out / "envs") if "/" in rel)
    with monkeypatch.context() as m:
        m.setattr(EnvRenderer, "render", render_spy)
        rendered.write_text("", "utf-8")
        m.setattr(environments_module, "code_digest", lambda *a: "changed on disk since")
        build(root=root, output=out, cache_dir=cache, env={})
        assert rendered.read_text("utf-8").split() == []  # (linked: the keys are CODE's)
        m.setattr(environments_module, "code_digest", code_digest)
        build(root=root, output=out, cache_dir=cache, env={})
        assert len(rendered.read_text("utf-8").split()) == len(envs)  # nothing was recorded
        rendered.write_text("", "utf-8")
        build(root=root, output=out, cache_dir=cache, env={})
        assert rendered.read_text("utf-8").split() == []


def test_the_digest_of_an_environment_changes_with_each_of_its_inputs(world: World) -> None:
    """curate.environments.EnvDigests: the same inputs give the same digest (in another build too); each
    thing that goes into an environment's files changes it."""
    from curate.environments import EnvDigests
    from curate.vetting import AppliedWaiver, Finding

    config = load_config(world.root)
    envs = load_plans(world.root, config, {})[TEAM]
    env, other = envs.get("linux-x86_64-py3.11"), envs.get("linux-x86_64-py3.12")
    assert env is not None
    assert other is not None
    assert env.packages
    request = envs.request

    def digest(
        e: Environment = env, r: Request = request, c: Config = config, loc: Locations | None = None
    ) -> str:
        return EnvDigests(EnvRenderer(c, loc or mirror_locations(c))).of(e, r)

    base = digest()
    assert digest() == base

    def package(p: EnvPackage) -> Environment:
        return dataclasses.replace(env, packages=(p, *env.packages[1:]))

    first = env.packages[0]
    version, file, record = first.version, first.file, first.version.vetting
    assert record is not None

    def vetted(**changes: object) -> str:
        changed = dataclasses.replace(record, **changes)  # type: ignore[arg-type]
        return digest(
            package(dataclasses.replace(first, version=dataclasses.replace(version, vetting=changed)))
        )

    finding = Finding(id="GHSA-x", kind="vulnerability", severity="HIGH", message="m", decision="warn")
    waiver = AppliedWaiver(justification="j", expires=dt.date(2099, 1, 1))
    loc = mirror_locations(config)
    changed = {
        "target": digest(other),
        "request id": digest(r=dataclasses.replace(request, id="2026-01-01-other")),
        "request title": digest(r=dataclasses.replace(request, title="Another")),
        "request date": digest(r=dataclasses.replace(request, date=dt.date(2020, 1, 1))),
        "requester shown": digest(
            r=dataclasses.replace(request, requested_by="x@example.com"),
            c=dataclasses.replace(config, show_requesters=True),
        ),
        "index": digest(loc=dataclasses.replace(loc, index="https://mirror.example/simple/")),
        "base url": digest(loc=dataclasses.replace(loc, base_url="https://mirror.example/")),
        "files base url": digest(loc=dataclasses.replace(loc, files_base_url="https://files.example/")),
        "a package fewer": digest(dataclasses.replace(env, packages=env.packages[1:])),
        "direct": digest(package(dataclasses.replace(first, direct=not first.direct))),
        "dependencies": digest(
            package(dataclasses.replace(first, dependencies=(*first.dependencies, normalize("zzz"))))
        ),
        "version": digest(
            package(dataclasses.replace(first, version=dataclasses.replace(version, version="99")))
        ),
        "requires-python": digest(
            package(
                dataclasses.replace(first, version=dataclasses.replace(version, requires_python=">=3.99"))
            )
        ),
        "yanked": digest(
            package(dataclasses.replace(first, version=dataclasses.replace(version, yanked="x")))
        ),
        "file sha256": digest(
            package(dataclasses.replace(first, file=dataclasses.replace(file, sha256="0" * 64)))
        ),
        "file size": digest(
            package(dataclasses.replace(first, file=dataclasses.replace(file, size=file.size + 1)))
        ),
        "upload time": digest(
            package(
                dataclasses.replace(first, file=dataclasses.replace(file, upload_time="2020-01-01T00:00:00Z"))
            )
        ),
        "file name": digest(
            package(
                dataclasses.replace(first, file=dataclasses.replace(file, filename="x-1-py3-none-any.whl"))
            )
        ),
        "not vetted": digest(
            package(dataclasses.replace(first, version=dataclasses.replace(version, vetting=None)))
        ),
        "licence": vetted(license="GPL-3.0-only"),
        "status": vetted(status="warn"),
        "advisory": vetted(findings=(finding,)),
        "waived": vetted(findings=(dataclasses.replace(finding, decision="waived", waiver=waiver),)),
        "home page": vetted(home_page="https://x.example/"),
        "summary": vetted(summary="other"),
        "vetted": vetted(vetted=dt.date(2001, 1, 1)),
        "policy": vetted(policy="another"),
    }
    assert [k for k, d in changed.items() if d == base] == []
    assert len(set(changed.values())) == len(changed)
    # a request's api/requests/ JSON: the request and its environments' digests, those without files
    # by their blockers
    digests = EnvDigests(EnvRenderer(config, loc))
    blocked = next(e for e in envs.environments if not e.ready)
    api = digests.api(request, [base, digests.unavailable(blocked)])
    assert api == EnvDigests(EnvRenderer(config, loc)).api(request, [base, digests.unavailable(blocked)])
    fewer = dataclasses.replace(blocked, blockers=blocked.blockers[1:] or (Blocker(kind="not-locked"),))
    assert (
        len(
            {
                api,
                digests.api(request, [base, digests.unavailable(fewer)]),
                digests.api(request, [changed["version"], digests.unavailable(blocked)]),
                digests.api(
                    dataclasses.replace(request, title="Another"), [base, digests.unavailable(blocked)]
                ),
            }
        )
        == 4
    )


def test_a_request_pages_key_changes_with_everything_the_page_shows(world: World, tmp_path: Path) -> None:
    """curate.site.SiteRenderer.request_key: the same data gives the same key (in another process, with
    another hash seed, too); each thing a request's page shows changes it, and the page; so does each
    template, curate's code and the site's settings (curate.site.request_fingerprint)."""
    from curate.site import SiteData, SiteRenderer, code_fingerprint, collect, request_fingerprint
    from curate.smoke import Shown
    from curate.vetting import Finding

    config = load_config(world.root)
    data = collect(world.root, config, env={}, cache_dir=None)
    assert data.environments[TEAM].environments

    def page(d: SiteData = data, rid: str = TEAM) -> tuple[str, str]:
        site = SiteRenderer(d)
        return site.request_key(d.requests[rid]), site.request(d.requests[rid])

    base = page()
    assert page() == base
    envs = data.environments[TEAM]
    ready = next(i for i, e in enumerate(envs.environments) if e.ready)
    blocked = next(i for i, e in enumerate(envs.environments) if not e.ready)

    def environment(i: int, **changes: object) -> SiteData:
        es = list(envs.environments)
        es[i] = dataclasses.replace(es[i], **changes)  # type: ignore[arg-type]
        return dataclasses.replace(
            data, environments={**data.environments, TEAM: dataclasses.replace(envs, environments=tuple(es))}
        )

    first = envs.environments[ready].packages[0]

    def package(**changes: object) -> SiteData:
        rest = envs.environments[ready].packages[1:]
        return environment(ready, packages=(dataclasses.replace(first, **changes), *rest))  # type: ignore[arg-type]

    record = first.version.vetting
    assert record is not None

    def vetted(**changes: object) -> SiteData:
        changed = dataclasses.replace(record, **changes)  # type: ignore[arg-type]
        return package(version=dataclasses.replace(first.version, vetting=changed))

    def request(**changes: object) -> SiteData:
        r = dataclasses.replace(data.requests[TEAM], **changes)  # type: ignore[arg-type]
        return dataclasses.replace(data, requests={**data.requests, TEAM: r})

    finding = Finding(id="GHSA-x", kind="vulnerability", severity="HIGH", message="m", decision="warn")
    b = envs.environments[blocked].blockers[0]
    asked = data.requests[TEAM].packages[0].normalized
    changed = {
        "title": request(title="<b>Another</b>"),
        "date": request(date=dt.date(2020, 1, 1)),
        "python": request(python=("3.13",)),
        "requester shown": dataclasses.replace(
            request(requested_by="x@example.com"),
            config=dataclasses.replace(config, show_requesters=True),
        ),
        "asks for": request(packages=data.requests[TEAM].packages[1:]),
        "no page for what it asks for": dataclasses.replace(
            data, projects={k: v for k, v in data.projects.items() if k != asked}
        ),
        "smoke": dataclasses.replace(
            data, smoke={TEAM: [Shown(request=TEAM, target=HOST_TARGETS[0], status="fail", text="boom")]}
        ),
        "status": environment(ready, blockers=(Blocker(kind="not-locked"),)),
        "a package fewer": environment(ready, packages=envs.environments[ready].packages[1:]),
        "version": package(version=dataclasses.replace(first.version, version="99")),
        "file name": package(file=dataclasses.replace(first.file, filename="x-1-py3-none-any.whl")),
        "file size": package(file=dataclasses.replace(first.file, size=first.file.size + 10**7)),
        "built": package(built=BuiltFile(filename=first.file.filename, sha256="0" * 64, size=1, targets=())),
        "direct": package(direct=not first.direct),
        "vetting status": vetted(status="warn" if record.status != "warn" else "pass"),
        "advisory": vetted(findings=(finding,)),
        "advisory waived": vetted(findings=(dataclasses.replace(finding, decision="waived"),)),
        "not vetted": package(version=dataclasses.replace(first.version, vetting=None)),
        "blocker": environment(blocked, blockers=(dataclasses.replace(b, version="9.9"),)),
        "blocker's finding": environment(
            blocked, blockers=(dataclasses.replace(b, findings=(finding,), kind="blocked"),)
        ),
        "index": dataclasses.replace(data, config=dataclasses.replace(config, base_url="https://m.example/")),
    }
    pages = {what: page(d) for what, d in changed.items()}
    assert [what for what, (key, _) in pages.items() if key == base[0]] == []
    # each is shown (the title in the page's head, around the body: fill_request_pages)
    assert [what for what, (_, body) in pages.items() if body == base[1]] == ["title"]
    assert len({key for key, _ in pages.values()}) == len(pages)
    assert page(rid=next(r for r in data.requests if r != TEAM))[0] != base[0]

    # the templates (an included one too), curate's code and the settings are the fingerprint's
    package_dir = tmp_path / "curate"
    shutil.copytree(
        Path(curate_site.__file__).parent, package_dir, ignore=shutil.ignore_patterns("__pycache__")
    )
    fingerprint = request_fingerprint(config, code_fingerprint(package_dir))
    assert fingerprint == request_fingerprint(config, code_fingerprint(package_dir))
    assert fingerprint == request_fingerprint(config)  # the code this process imported
    smoke = package_dir / "templates" / "site" / "_smoke.html"
    smoke.write_text(smoke.read_text("utf-8") + " ", "utf-8")
    assert request_fingerprint(config, code_fingerprint(package_dir)) not in {fingerprint}
    other = request_fingerprint(config, code_fingerprint(package_dir))
    (package_dir / "environments.py").write_text("# changed\n", "utf-8")
    assert request_fingerprint(config, code_fingerprint(package_dir)) not in {fingerprint, other}
    assert (
        request_fingerprint(dataclasses.replace(config, show_justifications=not config.show_justifications))
        != fingerprint
    )

    # another process, with another hash seed (a set's order): the same keys
    script = (
        "import sys; from pathlib import Path; from curate.config import load_config; "
        "from curate.site import SiteRenderer, collect; root = Path(sys.argv[1]); "
        "d = collect(root, load_config(root), env={}, cache_dir=None); s = SiteRenderer(d); "
        "print(*(s.request_key(r) for _, r in sorted(d.requests.items())))"
    )
    keys = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(Path(curate_site.__file__).parents[1])}
        done = subprocess.run(
            [sys.executable, "-c", script, str(world.root)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        keys.add(done.stdout)
    site = SiteRenderer(data)
    assert keys == {" ".join(site.request_key(r) for _, r in sorted(data.requests.items())) + "\n"}


# -- the real clients -------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", HOST_TARGETS)
def test_uv_installs_the_pylock_and_pip_the_requirements(world: World, target: str, tmp_path: Path) -> None:
    python = interpreter(target.rsplit("py", 1)[1])
    lock = json.loads((world.public / "api" / "requests" / f"{TEAM}.json").read_text("utf-8"))
    (env,) = (e for e in lock["environments"] if e["target"] == target)
    expected = {p["normalized"]: p["version"] for p in env["packages"]}

    run(tmp_path, UV, "venv", "-q", "--python", python, str(tmp_path / "uv"))
    uv_python = tmp_path / "uv" / "bin" / "python"
    run(
        tmp_path,
        UV,
        "pip",
        "install",
        "--python",
        str(uv_python),
        "-r",
        f"{world.url}/envs/{TEAM}/{target}/pylock.toml",
    )
    assert installed(uv_python, tmp_path) == expected
    run(tmp_path, str(uv_python), "-c", "import webapp, httpish, certy, fastmath")

    run(tmp_path, python, "-m", "venv", "--without-pip", str(tmp_path / "pip"))
    pip_python = tmp_path / "pip" / "bin" / "python"
    run(
        tmp_path,
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(pip_python),
        "install",
        "--no-cache-dir",
        "--require-hashes",
        "--no-deps",
        "--index-url",
        f"{world.url}/simple/",
        "-r",
        f"{world.url}/envs/{TEAM}/{target}/requirements.txt",
    )
    assert installed(pip_python, tmp_path) == expected
    run(tmp_path, str(pip_python), "-c", "import webapp, httpish, certy, fastmath")


def test_one_envdigests_for_a_whole_build_gives_what_a_fresh_one_gives(world: World) -> None:
    """EnvDigests keeps each version's, package's, package line's and request's part by the identity of
    the objects (kept alive, so no identity is reused): one instance for every environment of a build
    gives each the digest a fresh one gives it; another file of the same version (another target's
    wheel), another request object with the same id, are each their own part."""
    from curate.environments import EnvDigests

    config = load_config(world.root)
    plans = load_plans(world.root, config, {})
    loc = mirror_locations(config)

    def fresh(e: Environment, r: Request) -> str:
        return EnvDigests(EnvRenderer(config, loc)).of(e, r)

    shared = EnvDigests(EnvRenderer(config, loc))
    ready = [(e, envs.request) for envs in plans.values() for e in envs.environments if e.ready]
    assert len(ready) > 1
    digests = [shared.of(e, r) for e, r in ready]
    assert digests == [fresh(e, r) for e, r in ready]
    assert digests == [shared.of(e, r) for e, r in ready]  # asked again: the same
    env, request = ready[0]
    first = env.packages[0]
    wheel = dataclasses.replace(first.file, filename="other-1-py3-none-any.whl", sha256="0" * 64)
    other_file = dataclasses.replace(
        env, packages=(dataclasses.replace(first, file=wheel), *env.packages[1:])
    )
    retitled = dataclasses.replace(request, title="Another")
    variants = [shared.of(other_file, request), shared.of(env, retitled)]
    assert variants == [fresh(other_file, request), fresh(env, retitled)]
    assert len({digests[0], *variants}) == 3
    # curate's code (every file of its package: curate.reuse.code_digest) is in every digest
    with pytest.MonkeyPatch.context() as m:
        m.setattr(environments_module, "CODE", "another curate")
        assert fresh(env, request) != digests[0]


def test_the_pylock_installs_through_proxpi_and_from_another_host(world: World, tmp_path: Path) -> None:
    """proxpi re-homes the files under its own host and layout: `curate env --index-url` looks them up
    there (by name, checked by sha256); a second host serving the same tree: `--base-url`."""
    mirror = make_server(world.public, port=0, quiet=True)
    stop_mirror = serve_in_thread(mirror)
    target = "linux-x86_64-py3.11"
    python = interpreter("3.11")
    try:
        with proxpi(f"{world.url}/simple/", tmp_path / "proxpi", _env(tmp_path)) as index_url:
            lock = tmp_path / "proxy" / "pylock.toml"
            assert (
                curate(
                    world.root,
                    "env",
                    TEAM,
                    "--target",
                    target,
                    "--index-url",
                    index_url,
                    "-o",
                    str(lock),
                )
                == 0
            )
            data = tomllib.loads(lock.read_text("utf-8"))
            urls = [w["url"] for p in data["packages"] for w in p["wheels"]]
            assert urls
            assert all(u.startswith(index_url) for u in urls), urls
            assert {p["index"] for p in data["packages"]} == {index_url}
            world.access.clear()
            run(tmp_path, UV, "venv", "-q", "--python", python, str(tmp_path / "v1"))
            run(
                tmp_path,
                UV,
                "pip",
                "install",
                "--python",
                str(tmp_path / "v1" / "bin" / "python"),
                "-r",
                str(lock),
            )
            run(tmp_path, str(tmp_path / "v1" / "bin" / "python"), "-c", "import webapp, fastmath")
            fetched = {a.path for a in world.access if a.path.startswith("/files/")}
            assert len(fetched) == len(urls)  # proxpi fetched each file from the catalog, once

            other = tmp_path / "other" / "pylock.toml"
            assert (
                curate(
                    world.root,
                    "env",
                    TEAM,
                    "--target",
                    target,
                    "--base-url",
                    url_of(mirror),
                    "-o",
                    str(other),
                )
                == 0
            )
            assert f"{url_of(mirror)}/files/" in other.read_text("utf-8")
            run(tmp_path, UV, "venv", "-q", "--python", python, str(tmp_path / "v2"))
            run(
                tmp_path,
                UV,
                "pip",
                "install",
                "--python",
                str(tmp_path / "v2" / "bin" / "python"),
                "-r",
                str(other),
            )
            run(tmp_path, str(tmp_path / "v2" / "bin" / "python"), "-c", "import webapp, fastmath")
    finally:
        stop_mirror()


# -- planning, without clients -----------------------------------------------------------------------------


def _vetted(
    *files: FileEntry, policy: str, status: str = "pass", findings: tuple[dict[str, object], ...] = ()
) -> VettingRecord:
    """A record as curate vet writes one under ``policy`` (the config's digest), covering ``files``."""
    return VettingRecord.from_dict(
        {
            "status": status,
            "license": "MIT",
            "vetted": "2026-01-01",
            "policy": policy,
            "findings": list(findings),
            "files": {f.filename: {"sha256": f.sha256, "metadata_sha256": None} for f in files},
        }
    )


def _file(name: str, targets: tuple[str, ...], sha: str = "a") -> FileEntry:
    return FileEntry(filename=name, sha256=sha * 64, size=10, targets=targets)


def test_plan_takes_the_needed_version_and_says_why_a_target_has_none(tmp_path: Path) -> None:
    lin, win = "linux-x86_64-py3.12", "windows-amd64-py3.12"
    config = load_config(lock_repo(tmp_path / "repo", "http://127.0.0.1:9/simple/"))
    policy = config.vetting.digest()
    any_wheel = _file("pkg-2.0-py3-none-any.whl", (lin, win))
    old = _file("pkg-1.0-py3-none-any.whl", (lin, win), "b")
    native = _file("pkg-2.0-cp312-cp312-manylinux_2_17_x86_64.whl", (lin,), "c")
    need = Need(request="2026-01-01-r", targets=(lin, win), direct=True)
    pkg = Project(
        name="Pkg",
        versions=(
            VersionEntry(
                version="1.0", files=(old,), vetting=_vetted(old, policy=policy)
            ),  # superseded: nobody needs it
            VersionEntry(
                version="2.0",
                needed_by=(need,),
                files=(any_wheel, native),
                vetting=_vetted(any_wheel, native, policy=policy),
            ),
        ),
    )
    dep = _file("dep-1.0-py3-none-any.whl", (lin, win), "d")
    unvetted = Project(
        name="dep",
        versions=(
            VersionEntry(version="1.0", needed_by=(dataclasses.replace(need, targets=(win,)),), files=(dep,)),
        ),
    )
    request = Request(
        path="requests/2026-01-01-r.yaml",
        id="2026-01-01-r",
        date=dt.date(2026, 1, 1),
        slug="r",
        title="r",
        requested_by="x@example.com",
        justification="j",
        platforms=("linux", "windows"),
        python=("3.12", "3.13"),
        packages=(PackageSpec(name="pkg", normalized=normalize("pkg")),),
    )
    backend = _file("backend-1.0-py3-none-any.whl", (lin, win), "f")
    build_only = Project(  # needed only to build an sdist (curate.builddeps): not installed
        name="backend",
        versions=(
            VersionEntry(
                version="1.0",
                needed_by=(dataclasses.replace(need, direct=False, to_build="other==1.0"),),
                files=(backend,),
                vetting=_vetted(backend, policy=policy),
            ),
        ),
    )
    envs = plan(
        {normalize("pkg"): pkg, normalize("dep"): unvetted, normalize("backend"): build_only},
        [request],
        config,
    )[request.id]
    got = {e.target.id: e for e in envs.environments}
    assert list(got) == [lin, "linux-x86_64-py3.13", win, "windows-amd64-py3.13"]
    (p,) = got[lin].packages
    assert (p.version.version, p.file.filename) == ("2.0", native.filename)  # the tag the target prefers
    assert got[win].status == "unavailable"
    assert got[win].reason == "not available: dep 1.0 is not vetted yet (run: curate vet)"
    assert (
        got["linux-x86_64-py3.13"].reason
        == "not available: nothing is locked for this target (run: curate lock)"
    )

    tampered = dataclasses.replace(
        pkg,
        versions=(
            dataclasses.replace(
                pkg.versions[1],
                vetting=_vetted(any_wheel, _file(native.filename, (lin,), "e"), policy=policy),
            ),
        ),
    )
    envs = plan({normalize("pkg"): tampered}, [request], config)[request.id]
    env = envs.get(lin)
    assert env is not None
    assert env.status == "blocked"
    assert (
        env.reason
        == f"blocked by vetting: Pkg 2.0: {native.filename} is not the file vetting covered (run: curate vet)"
    )
    target = config.target(win)
    assert installed_file(pkg.versions[1], target) == any_wheel

    # the environments list only what the index serves (curate.index.unserved), and say why not
    def with_record(record: VettingRecord) -> dict[NormalizedName, Project]:
        v = dataclasses.replace(pkg.versions[1], vetting=record)
        return {normalize("pkg"): dataclasses.replace(pkg, versions=(v,))}

    def linux(projects: dict[NormalizedName, Project], today: dt.date = dt.date(2026, 6, 1)) -> Environment:
        env = plan(projects, [request], config, today=today)[request.id].get(lin)
        assert env is not None
        return env

    # Linux installs the native wheel, which vetting covered; the any wheel it did not cover: the index
    # leaves the version out, so Linux has no environment either
    env = linux(with_record(_vetted(native, policy=policy)))
    assert (env.status, env.packages) == ("unavailable", ())
    assert env.reason.startswith("not available: Pkg 2.0 is not served by the index: its vetting record")
    env = linux(with_record(_vetted(any_wheel, native, policy="0" * 64)))
    assert env.reason == (
        "not available: Pkg 2.0 is not served by the index: vetted under another vetting policy than "
        "catalog/config.yaml's (run: curate vet)"
    )
    waived: dict[str, object] = {
        "id": "GHSA-aaaa-bbbb-cccc",
        "kind": "vulnerability",
        "message": "bad",
        "decision": "waived",
        "waiver": {"justification": "internal only", "expires": "2026-03-01"},
    }
    record = _vetted(any_wheel, native, policy=policy, status="pass", findings=(waived,))
    assert linux(with_record(record), today=dt.date(2026, 2, 1)).ready
    env = linux(with_record(record), today=dt.date(2026, 3, 2))
    assert env.status == "blocked"
    assert env.reason == (
        "blocked by vetting: Pkg 2.0: a waiver it relies on expired: GHSA-aaaa-bbbb-cccc (expired 2026-03-01) "
        "(renew it or upgrade, then: curate vet)"
    )
    assert [f.id for f in env.blockers[0].findings] == ["GHSA-aaaa-bbbb-cccc"]


def test_urls_are_quoted_and_a_link_mode_catalog_needs_a_lookup(tmp_path: Path) -> None:
    root = lock_repo(tmp_path / "repo", "http://127.0.0.1:9/simple/")
    config = load_config(root)
    f = _file("plus.ver-1.0+local-py3-none-any.whl", ("linux-x86_64-py3.12",))
    assert (
        Locations.of(config).url("plus-ver", f)
        == "http://127.0.0.1:8000/files/plus-ver/plus.ver-1.0%2Blocal-py3-none-any.whl"
    )
    assert (
        Locations.of(config, base_url="https://mirror.example/c")
        .url("plus-ver", f)
        .startswith("https://mirror.example/c/files/")
    )
    path = root / "catalog" / "config.yaml"
    path.write_text(path.read_text("utf-8").replace("mode: mirror", "mode: link"), "utf-8")
    with pytest.raises(EnvironmentUnavailable, match="pass --index-url"):
        mirror_locations(load_config(root))
    assert EnvRenderer(config, Locations.of(config)).request_page("x") == "http://127.0.0.1:8000/requests/x/"


def test_the_file_is_the_one_the_index_serves_built_wheels_included(tmp_path: Path) -> None:
    """A wheel curate wheels built is named where and while the index serves it (curate.index.served_built):
    beside an sdist-only version's sdist, in an upstream wheel's place only under build.serve: built, and
    only while the cache holds its bytes (the check); otherwise the file the index serves instead."""
    from curate.catalog import BuiltFile
    from curate.index import plan_project

    lin = "linux-x86_64-py3.12"
    config = load_config(lock_repo(tmp_path / "repo", "http://127.0.0.1:9/simple/"))
    policy = config.vetting.digest()
    sdist = _file("pkg-1.0.tar.gz", (lin,), "a")
    upstream = _file("pkg-1.0-py3-none-any.whl", (lin,), "b")
    made = BuiltFile(
        filename="pkg-1.0-py3-none-any.whl",
        sha256="c" * 64,
        size=12,
        targets=(lin,),
        sdist=sdist.filename,
        sdist_sha256=sdist.sha256,
        frontend="uv 0.9 (uv build)",
    )
    need = Need(request="2026-01-01-r", targets=(lin,), direct=True)
    request = Request(
        path="requests/2026-01-01-r.yaml",
        id="2026-01-01-r",
        date=dt.date(2026, 1, 1),
        slug="r",
        title="r",
        requested_by="x@example.com",
        justification="j",
        platforms=("linux",),
        python=("3.12",),
        packages=(PackageSpec(name="pkg", normalized=normalize("pkg")),),
    )

    def chosen(
        config_: Config, *files: FileEntry, built: tuple[BuiltFile, ...], held: bool
    ) -> tuple[str, str]:
        version = VersionEntry(
            version="1.0", needed_by=(need,), files=files, vetting=_vetted(*files, policy=policy), built=built
        )
        project = Project(name="pkg", versions=(version,))

        def check(b: BuiltFile) -> str | None:
            return None if held else "its bytes are not in the cache"

        env = plan({normalize("pkg"): project}, [request], config_, built=check)[request.id].get(lin)
        assert env is not None
        assert env.ready, env.reason
        (p,) = env.packages
        page = plan_project(project, config_, lambda v, f: None, built=check)
        assert (p.file.filename, p.file.sha256) in {(f.filename, f.sha256) for f in page.files}
        return p.file.filename, p.file.sha256

    # an sdist-only version: the built wheel while the cache holds it, else the sdist
    assert chosen(config, sdist, built=(made,), held=True) == (made.filename, made.sha256)
    assert chosen(config, sdist, built=(made,), held=False) == (sdist.filename, sdist.sha256)
    # build.from_source: pure rebuilt the upstream wheel to compare: served in its place only under serve: built
    twin = dataclasses.replace(made, compared_with=upstream.filename)
    assert chosen(config, sdist, upstream, built=(twin,), held=True) == (upstream.filename, upstream.sha256)
    built_config = dataclasses.replace(config, build=dataclasses.replace(config.build, serve="built"))
    assert chosen(built_config, sdist, upstream, built=(twin,), held=True) == (made.filename, made.sha256)
    assert chosen(built_config, sdist, upstream, built=(twin,), held=False) == (
        upstream.filename,
        upstream.sha256,
    )
    # a wheel with problems, or built from another sdist, is not served: the sdist
    assert (
        chosen(config, sdist, built=(dataclasses.replace(made, problems=("x",)),), held=True)[0]
        == sdist.filename
    )
    other = dataclasses.replace(made, sdist_sha256="f" * 64)
    assert chosen(config, sdist, built=(other,), held=True)[0] == sdist.filename

    # the SBOM says it was built, and from which sdist
    version = VersionEntry(
        version="1.0", needed_by=(need,), files=(sdist,), vetting=_vetted(sdist, policy=policy), built=(made,)
    )
    env = plan(
        {normalize("pkg"): Project(name="pkg", versions=(version,))}, [request], config, built=lambda b: None
    )[request.id].get(lin)
    assert env is not None
    sbom = json.loads(SbomRenderer(mirror_locations(config), tool_version="0").render(env, request))
    (component,) = sbom["components"]
    props = {p["name"]: p["value"] for p in component["properties"]}
    assert props["curate:origin"] == "built"
    assert props["curate:built:from"] == f"pkg-1.0.tar.gz sha256:{'a' * 64}"
    assert props["curate:built:frontend"] == "uv 0.9 (uv build)"
    assert component["hashes"] == [{"alg": "SHA-256", "content": made.sha256}]


# -- plan against a plain reference, on generated catalogs ---------------------------------------------------


def _reference_check(
    project: Project,
    version: VersionEntry,
    target: Target,
    config: Config,
    today: dt.date,
    built: BuiltCheck | None,
) -> Blocker | tuple[FileEntry, BuiltFile | None]:
    """The rule :func:`curate.environments.plan` applies to one version on one target, written plainly
    (no memo): blocked, no file, not vetted, unvetted bytes, an expired waiver, left out by the index
    (:func:`curate.index.unserved`), else the file the target installs among those the index serves."""
    order = {tag: i for i, tag in enumerate(target.tags())}

    def rank(f: FileEntry) -> tuple[int, str]:
        try:
            tags: frozenset[Any] = parse_wheel_filename(f.filename)[3]
        except InvalidWheelFilename:
            return len(order), f.filename
        return min((order.get(t, len(order)) for t in tags), default=len(order)), f.filename

    def pick(files: list[FileEntry]) -> FileEntry | None:
        candidates = [f for f in files if target.id in f.targets]
        wheels = [f for f in candidates if f.is_wheel]
        if wheels:
            return min(wheels, key=rank)
        sdists = sorted((f for f in candidates if not f.is_wheel), key=lambda f: f.filename)
        return sdists[0] if sdists else None

    def blocker(kind: Any, **more: Any) -> Blocker:
        return Blocker(
            kind=kind, project=project.name, normalized=project.normalized, version=version.version, **more
        )

    record = version.vetting
    if record is not None and record.blocked:
        return blocker("blocked", findings=tuple(f for f in record.findings if f.decision == "block"))
    chosen = pick(list(version.files))
    if chosen is None and not any(target.id in b.targets for b in version.built):
        return blocker("no-file")
    if record is None:
        return blocker("not-vetted")
    if chosen is not None:
        evidence = record.evidence(chosen.filename)
        if evidence is None or (evidence.sha256 is not None and evidence.sha256 != chosen.sha256):
            return blocker("unvetted-bytes", filename=chosen.filename)
    expired = tuple(
        f
        for f in record.findings
        if f.decision == "waived" and f.waiver is not None and f.waiver.expires < today
    )
    if expired:
        return blocker("waiver-expired", findings=expired)
    why = unserved(version, config.vetting, today)
    if why is not None:
        return blocker("left-out", detail=why)
    if not version.built and chosen is not None:
        return chosen, None
    files, _ = served_files(version, config, built)
    served = pick([f for f, _ in files])
    if served is None:
        return blocker("no-file")
    return served, next(b for f, b in files if f is served)


def _reference_plan(
    projects: Mapping[NormalizedName, Project],
    requests: list[Request],
    config: Config,
    today: dt.date,
    built: BuiltCheck | None,
) -> dict[str, list[Environment]]:
    """Every request's environments by the plain rule, one request and target at a time: each version
    the request needs there (not only to build), one per project (two versions of one: a conflict; one
    version twice: one package, direct if either need is), in name order; the first blockers win, else
    every package with its dependencies on the target that are in the environment."""
    out: dict[str, list[Environment]] = {}
    for request in sorted(requests, key=lambda r: r.id):
        envs = out[request.id] = []
        for target in request_targets(request, config):
            wanted: dict[NormalizedName, list[tuple[Project, VersionEntry, bool]]] = {}
            for name, project in projects.items():
                for version in project.versions:
                    for need in version.needed_by:
                        if need.request != request.id or need.to_build:
                            continue
                        for tid in need.targets:
                            if tid != target.id:
                                continue
                            found = wanted.setdefault(name, [])
                            same = [i for i, (_, v, _) in enumerate(found) if v is version]
                            if same:
                                found[same[0]] = (project, version, found[same[0]][2] or need.direct)
                            else:
                                found.append((project, version, need.direct))
            if not wanted:
                envs.append(
                    Environment(
                        request=request.id,
                        target=target,
                        packages=(),
                        blockers=(Blocker(kind="not-locked"),),
                    )
                )
                continue
            blockers: list[Blocker] = []
            chosen = []
            for name in sorted(wanted):
                if len(wanted[name]) > 1:
                    versions = tuple(sorted(v.version for _, v, _ in wanted[name]))
                    project = wanted[name][0][0]
                    blockers.append(
                        Blocker(kind="conflict", project=project.name, normalized=name, versions=versions)
                    )
                    continue
                ((project, version, direct),) = wanted[name]
                result = _reference_check(project, version, target, config, today, built)
                if isinstance(result, Blocker):
                    blockers.append(result)
                else:
                    chosen.append((name, project, version, direct, result))
            if blockers:
                envs.append(
                    Environment(request=request.id, target=target, packages=(), blockers=tuple(blockers))
                )
                continue
            packages = tuple(
                EnvPackage(
                    project=project,
                    normalized=name,
                    version=version,
                    file=file,
                    built=wheel,
                    direct=direct,
                    dependencies=tuple(
                        sorted(
                            d.name
                            for d in version.dependencies
                            if target.id in d.targets and d.name in wanted
                        )
                    ),
                )
                for name, project, version, direct, (file, wheel) in chosen
            )
            envs.append(Environment(request=request.id, target=target, packages=packages, blockers=()))
    return out


_NAMES = ("alpha", "beta", "gamma", "delta")
_DAY = dt.date(2026, 6, 1)


@st.composite
def _catalogs(
    draw: st.DrawFn, target_ids: tuple[str, ...], policy: str
) -> tuple[dict[NormalizedName, Project], list[Request], BuiltCheck | None, bool]:
    """A small catalog where every rule of the plan can apply: several targets, blocked versions,
    waivers expired or not, records that do not cover the files, built wheels (held in the cache or not,
    standing in for an upstream wheel), wheels of several tags and invalid names, sdists, needs on
    several targets (one version needed twice, two versions of one project, needs only to build),
    dependencies per target; and requests on several platforms and Pythons."""
    request_ids = ("2026-01-01-a", "2026-01-02-b", "2026-01-03-c")
    # mostly every target the requests take (two OSes, two Pythons), else a few of them, in any order
    targets = st.one_of(
        st.just(target_ids),
        st.lists(st.sampled_from(target_ids), max_size=4).map(tuple),
    )
    projects: dict[NormalizedName, Project] = {}
    for name in draw(st.lists(st.sampled_from(_NAMES), unique=True, max_size=4)):
        versions: list[VersionEntry] = []
        for number in draw(
            st.lists(st.sampled_from(("1.0", "2.0", "3.0")), unique=True, min_size=1, max_size=2)
        ):
            stem = f"{name}-{number}"
            pool = [
                f"{stem}-py3-none-any.whl",
                f"{stem}-cp312-cp312-manylinux_2_17_x86_64.whl",
                f"{stem}-cp312-abi3-manylinux_2_17_x86_64.whl",
                f"{stem}-cp313-cp313-win_amd64.whl",
                f"{stem}-py2.py3-none-any.whl",
                f"{stem}.tar.gz",
                f"{stem}.zip",
                f"{name} {number}-x.whl",  # not a valid wheel name
            ]
            files = tuple(
                _file(f, draw(targets), draw(st.sampled_from("ab")))
                for f in draw(
                    st.one_of(  # an sdist only, as curate wheels builds from
                        st.just([f"{stem}.tar.gz"]),
                        st.lists(st.sampled_from(pool), unique=True, min_size=1, max_size=3),
                    )
                )
            )
            sdists = [f for f in files if not f.is_wheel]
            built: tuple[BuiltFile, ...] = ()
            if draw(st.booleans()) and sdists:
                upstream = [f.filename for f in files if f.is_wheel]
                built = (
                    BuiltFile(
                        filename=f"{stem}-py3-none-any.whl",
                        sha256=draw(st.sampled_from("cd")) * 64,
                        size=3,
                        targets=draw(targets),
                        sdist=sdists[0].filename,
                        sdist_sha256=draw(st.sampled_from((sdists[0].sha256,) * 3 + ("f" * 64,))),
                        compared_with=draw(st.sampled_from(("", *upstream))),
                        changed=draw(st.sampled_from(((), ("x.py",)))),
                        problems=draw(st.sampled_from(((), (), ("bad",)))),
                    ),
                )
            # most versions are sound (vetted as exactly their files, under the policy, passing); the
            # others break one rule or several
            sound = draw(st.integers(0, 2)) > 0
            vetting = None
            if sound or draw(st.integers(0, 7)):
                covered = [f for f in files if sound or draw(st.integers(0, 15))]
                if not sound and draw(st.integers(0, 3)) == 0:  # bytes other than the file's
                    covered = [dataclasses.replace(f, sha256="e" * 64) for f in covered]
                findings: list[dict[str, object]] = []
                status = draw(st.sampled_from(("pass", "warn") if sound else ("pass", "warn", "block")))
                if status == "block":
                    findings.append(
                        {"id": "GHSA-1", "kind": "vulnerability", "message": "m", "decision": "block"}
                    )
                if draw(st.integers(0, 3)) == 0:
                    expires = draw(st.sampled_from(("2026-05-31", "2026-06-01", "2026-06-02")))
                    waiver = {"justification": "internal only", "expires": expires}
                    findings.append(
                        {
                            "id": "GHSA-2",
                            "kind": "vulnerability",
                            "message": "w",
                            "decision": "waived",
                            "waiver": waiver,
                        }
                    )
                vetting = _vetted(
                    *covered,
                    policy=policy if sound else draw(st.sampled_from((policy, "0" * 64))),
                    status=status,
                    findings=tuple(findings),
                )
            # each request may need it (a need on several targets, sometimes a second one, sometimes
            # only to build another sdist)
            needs = tuple(
                Need(
                    request=rid,
                    targets=draw(targets),
                    direct=draw(st.booleans()),
                    to_build=draw(st.sampled_from(("", "", "", "", "other==1.0"))),
                )
                for rid in request_ids
                for _ in range(draw(st.sampled_from((0, 1, 1, 2) if not versions else (0, 0, 0, 1))))
            )
            dependencies = tuple(
                Dependency(name=normalize(d), targets=draw(targets))
                for d in draw(st.lists(st.sampled_from(_NAMES), unique=True, max_size=3))
            )
            versions.append(
                VersionEntry(
                    version=number,
                    needed_by=needs,
                    files=files,
                    vetting=vetting,
                    built=built,
                    dependencies=dependencies,
                )
            )
        projects[normalize(name)] = Project(name=name.title(), versions=tuple(versions))
    requests = [
        Request(
            path=f"requests/{rid}.yaml",
            id=rid,
            date=dt.date(2026, 1, 1),
            slug=rid[11:],
            title=rid,
            requested_by="x@example.com",
            justification="j",
            platforms=tuple(draw(st.lists(st.sampled_from(("linux", "windows")), unique=True, min_size=1))),
            python=tuple(draw(st.lists(st.sampled_from(("3.12", "3.13")), unique=True, min_size=1))),
            packages=tuple(
                PackageSpec(
                    name=n,
                    normalized=normalize(n),
                    platforms=draw(st.sampled_from((None, ("linux",), ("windows",)))),
                    python=draw(st.sampled_from((None, ("3.12",), ("3.13",)))),
                )
                for n in draw(st.lists(st.sampled_from(_NAMES), unique=True, min_size=1, max_size=2))
            ),
        )
        for rid in draw(st.lists(st.sampled_from(request_ids), unique=True, min_size=1))
    ]
    held = draw(st.sampled_from(("all", "none", "c", "no check")))
    check: BuiltCheck | None = None
    if held != "no check":

        def check(b: BuiltFile) -> str | None:
            return None if held == "all" or (held == "c" and b.sha256.startswith("c")) else "not in the cache"

    return projects, requests, check, draw(st.booleans())


@pytest.fixture(scope="module")
def plan_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load_config(lock_repo(tmp_path_factory.mktemp("plan") / "repo", "http://127.0.0.1:9/simple/"))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_plan_is_the_plain_rule_with_each_package_made_once(plan_config: Config, data: st.DataObject) -> None:
    """plan (with its memos and shortcuts) gives exactly the environments of the plain rule
    (:func:`_reference_plan`) on generated catalogs; an environment's package is one object wherever it is
    the same (version, file, built wheel, direct, dependencies), and the versions and upstream files are the
    catalog's own objects."""
    ids = tuple(f"{p}-py{v}" for p in ("linux-x86_64", "windows-amd64") for v in ("3.12", "3.13"))
    assert set(ids) <= {t.id for t in plan_config.all_targets()}
    projects, requests, check, serve_built = data.draw(_catalogs(ids, plan_config.vetting.digest()))
    config = plan_config
    if serve_built:
        config = dataclasses.replace(config, build=dataclasses.replace(config.build, serve="built"))
    got = plan(projects, requests, config, today=_DAY, built=check)
    want = _reference_plan(projects, requests, config, _DAY, check)
    assert list(got) == list(want)
    for rid, envs in got.items():
        assert envs.request is next(r for r in requests if r.id == rid)
        assert list(envs.environments) == want[rid]
    made: dict[tuple[int, int, int, bool, tuple[str, ...]], EnvPackage] = {}
    for envs in got.values():
        for env in envs.environments:
            for p in env.packages:
                key = (id(p.version), id(p.file), id(p.built), p.direct, p.dependencies)
                assert made.setdefault(key, p) is p
                assert any(v is p.version for v in projects[p.normalized].versions)
                assert p.built is not None or any(f is p.file for f in p.version.files)
    assert len({id(p) for p in made.values()}) == len(made)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("localhost:8000", "not an http(s) URL"),  # no scheme: written as it was, uv then refused it
        ("ftp://files.example/", "not an http(s) URL"),
        ("http:///files/", "not an http(s) URL"),  # no host
        ("file:relative/public/", "not an http(s) URL"),
        ("file://share.example/public/", "not an http(s) URL"),  # a UNC path on Windows
        ("http://files.example:99999/", "not a URL"),
        ("https://files.example/?a=1", "a query or fragment"),
        ("https://files.example/#top", "a query or fragment"),
        ("http://files example/", "whitespace"),
        ("http://files.example/a\\b/", "a backslash"),
        ("http://files.example/\x1b[31m/", "a control character"),
        ("http://files.example/\u202e/", "a control character"),
        ("https://user:token@files.example/", "it carries credentials"),
        ("x ##[error]injected", "not an http(s) URL"),
    ],
)
@pytest.mark.parametrize("flag", ["--base-url", "--index-url"])
def test_curate_env_takes_only_http_or_file_urls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, url: str, why: str
) -> None:
    """What the lock's file URLs are made of (or looked up on) is checked before anything is read: an
    http(s) URL with a host or a file:/// URL, with no credentials (the lock is published), query,
    fragment, backslash, whitespace or control character; the error shows it escaped, its credentials
    hidden, and able to start no workflow command."""
    from curate.cli import main

    with pytest.raises(SystemExit) as info:
        main(["-C", str(tmp_path), "env", "some-request", flag, url])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: " in err
    assert why in err
    assert "\x1b" not in err
    assert "\u202e" not in err
    assert "token" not in err
    assert "##[" not in err


def test_a_blocked_reason_says_it_once() -> None:
    """'blocked by vetting: X is blocked by vetting (license-denied license-denied: ...)' said it all
    twice: the head names the cause once, and a finding whose id is its kind is named once."""
    from curate.vetting import Finding
    from tests.conftest import REPO

    target = load_config(REPO).all_targets()[0]
    licence = Finding(id="license-denied", kind="license-denied", decision="block", message="licence GPL-3.0")
    advisory = Finding(id="GHSA-aaaa-bbbb-cccc", kind="vulnerability", decision="block", message="RCE")
    blocker = Blocker(kind="blocked", project="html2text", version="2025.4.15", findings=(licence, advisory))
    unvetted = Blocker(kind="not-vetted", project="six", version="1.17.0")
    env = Environment(request="r", target=target, packages=(), blockers=(blocker, unvetted))
    assert env.reason == (
        "blocked by vetting: html2text 2025.4.15 (license-denied: licence GPL-3.0; vulnerability "
        "GHSA-aaaa-bbbb-cccc: RCE); six 1.17.0 is not vetted yet (run: curate vet)"
    )
    assert blocker.message == (
        "html2text 2025.4.15 is blocked by vetting (license-denied: licence GPL-3.0; vulnerability "
        "GHSA-aaaa-bbbb-cccc: RCE)"
    )
