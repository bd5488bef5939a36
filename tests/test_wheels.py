"""curate wheels: wheels built from vetted sdists, hermetically, recorded, served, installed (issue 14).

One catalog for the module (lock -> fetch -> vet -> wheels -> vet -> build, each run once): fixture sdists
with setuptools, flit_core and hatchling, a tiny C extension that auditwheel repairs, one whose build
fails, one whose setup.py opens a socket, one that writes outside its directory; with build.from_source:
pure, an upstream pure wheel identical to its sdist's build and one with an extra module. The build
backends come from tests/data/build-backends.txt, downloaded by `make venv` (never by the tests).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from curate.builddeps import build_set
from curate.cache import blob_path
from curate.catalog import Project, load_catalog
from curate.names import normalize
from curate.serve import make_server, serve_in_thread, url_of
from curate.wheels import (
    Attempt,
    Sandbox,
    build_once,
    find_builder,
    find_sandbox,
    prepare_build_env,
    source_date_epoch,
)
from tests.lockutil import curate, lock_repo, write_request
from tests.upstream import Upstream
from tests.wheels import Dist

REPO = Path(__file__).resolve().parent.parent
# Where the scribbling build writes: curate's own virtual environment, read-only in the sandbox wherever
# the clone is (under /tmp, the sandbox's fresh /tmp would take a write into the clone itself, harmlessly)
SCRIBBLED = Path(sys.prefix).resolve() / "scribbled-by-a-build"
WHEELHOUSE = REPO / ".venv" / "test-wheelhouse"
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
EPOCH = 1700000000


def _backend_wheels() -> list[Path]:
    """The pinned wheels of tests/data/build-backends.txt in the wheelhouse `make venv` fills."""
    pins = [
        line.split("==")
        for line in (REPO / "tests" / "data" / "build-backends.txt").read_text("utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    ]
    found = [
        next(iter(sorted(WHEELHOUSE.glob(f"{name.replace('-', '_')}-{version}-*.whl"))), None)
        for name, version in pins
    ]
    if not pins or not all(found):
        pytest.skip(
            f"the fixture build backends are not in {WHEELHOUSE} (make venv downloads tests/data/build-backends.txt)"
        )
    return [p for p in found if p is not None]


def _sandbox() -> Sandbox:
    try:
        return find_sandbox(allow_none=False, env=os.environ)
    except Exception as exc:
        pytest.skip(f"no build sandbox on this machine: {exc}")


def make_sdist(out: Path, name: str, version: str, files: Mapping[str, str]) -> Path:
    """A deterministic .tar.gz sdist of ``files`` (relative path -> text), with its PKG-INFO."""
    base = f"{name}-{version}"
    pkg_info = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: fixture {name}\nLicense: MIT\n"
        "Classifier: License :: OSI Approved :: MIT License\n"
    )
    members = {"PKG-INFO": pkg_info, **files}
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{base}.tar.gz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        for rel, text in sorted(members.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{base}/{rel}")
            info.size, info.mtime, info.mode = len(data), EPOCH, 0o644
            tf.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return path


def _setuptools(name: str, setup_py: str = "", module: str = "VALUE = 42\n") -> dict[str, str]:
    files = {
        "pyproject.toml": (
            '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
            f'[project]\nname = "{name}"\nversion = "1.0"\ndescription = "fixture"\n'
            'license = {text = "MIT"}\nclassifiers = ["License :: OSI Approved :: MIT License"]\n'
        ),
        f"{name}.py": module,
    }
    if setup_py:
        files["setup.py"] = setup_py
    return files


# the hostile part runs when the wheel is built, not when the lock asks the backend what it needs
WHEN_BUILDING = "import sys\nif 'bdist_wheel' in sys.argv:\n"
SETUP = "from setuptools import setup\nsetup()\n"

C_SOURCE = """#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, ""}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "cfast", NULL, -1, methods};
PyMODINIT_FUNC PyInit_cfast(void) { return PyModule_Create(&module); }
"""


def fixture_sdists(out: Path, port: int) -> dict[str, Path]:
    flit = {
        "pyproject.toml": (
            '[build-system]\nrequires = ["flit_core>=3.4"]\nbuild-backend = "flit_core.buildapi"\n'
            '[project]\nname = "flitty"\nversion = "1.0"\ndescription = "fixture"\n'
            'classifiers = ["License :: OSI Approved :: MIT License"]\n'
        ),
        "flitty/__init__.py": "VALUE = 42\n",
    }
    hatch = {
        "pyproject.toml": (
            '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
            '[project]\nname = "hatchy"\nversion = "1.0"\ndescription = "fixture"\nlicense = "MIT"\n'
        ),
        "hatchy/__init__.py": "VALUE = 42\n",
    }
    cext = _setuptools(
        "cfast",
        "from setuptools import Extension, setup\nsetup(ext_modules=[Extension('cfast', ['cfast.c'])])\n",
    )
    del cext["cfast.py"]
    cext["cfast.c"] = C_SOURCE
    return {
        "purest": make_sdist(out, "purest", "1.0", _setuptools("purest")),
        "flitty": make_sdist(out, "flitty", "1.0", flit),
        "hatchy": make_sdist(out, "hatchy", "1.0", hatch),
        "cfast": make_sdist(out, "cfast", "1.0", cext),
        "broken": make_sdist(
            out,
            "broken",
            "1.0",
            _setuptools(
                "broken", WHEN_BUILDING + "    raise SystemExit('this build always fails')\n" + SETUP
            ),
        ),
        "sneaky": make_sdist(
            out,
            "sneaky",
            "1.0",
            _setuptools(
                "sneaky",
                WHEN_BUILDING
                + f"    import socket\n    socket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
                + SETUP,
            ),
        ),
        "scribbler": make_sdist(
            out,
            "scribbler",
            "1.0",
            _setuptools(
                "scribbler",
                WHEN_BUILDING + f"    open({str(SCRIBBLED)!r}, 'w').write('x')\n" + SETUP,
            ),
        ),
        # its PKG-INFO (what vetting read) says MIT; what it builds says GPL-3.0-only
        "relicensed": make_sdist(
            out,
            "relicensed",
            "1.0",
            {
                **_setuptools("relicensed"),
                "pyproject.toml": _setuptools("relicensed")["pyproject.toml"]
                .replace('{text = "MIT"}', '{text = "GPL-3.0-only"}')
                .replace("MIT License", "GNU General Public License v3 (GPLv3)"),
            },
        ),
        "twin": make_sdist(out, "twin", "1.0", _setuptools("twin")),
        "evil": make_sdist(out, "evil", "1.0", _setuptools("evil")),
    }


def _wheel_of(sdist: Path, out: Path, env: Mapping[str, str]) -> Path:
    """The wheel the sdist builds (offline, from the test wheelhouse): the 'upstream' pure wheel."""
    subprocess.run(
        [
            shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv",
            "build",
            "--wheel",
            "--no-index",
            "--find-links",
            str(WHEELHOUSE),
            "--python",
            sys.executable,
            "--out-dir",
            str(out),
            str(sdist),
        ],
        check=True,
        capture_output=True,
        env={
            **env,
            "SOURCE_DATE_EPOCH": str(source_date_epoch(sdist)),
            "UV_CACHE_DIR": str(out / "uv-cache"),
        },
        timeout=300,
    )
    return next(out.glob(sdist.name.split("-")[0] + "-*.whl"))


def _add_module(wheel: Path) -> None:
    """An extra module in the wheel (RECORD kept consistent): what a compromised release pipeline adds."""
    import base64
    import hashlib

    with zipfile.ZipFile(wheel) as zf:
        items = {i.filename: zf.read(i) for i in zf.infolist()}
    extra = b"import os  # collects credentials\n"
    items["evil_extra.py"] = extra
    record = next(n for n in items if n.endswith(".dist-info/RECORD"))
    digest = base64.urlsafe_b64encode(hashlib.sha256(extra).digest()).rstrip(b"=").decode()
    items[record] = items[record] + f"evil_extra.py,sha256={digest},{len(extra)}\n".encode()
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, data in items.items():
            zf.writestr(zipfile.ZipInfo(n, (2024, 1, 1, 0, 0, 0)), data)


def _catalog(root: Path) -> dict[str, Project]:
    return {str(name): project for name, project in load_catalog(root).items()}


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env |= {"UV_PYTHON_DOWNLOADS": "never", "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1"}
    env |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "UV_CACHE_DIR": str(tmp / "uv-cache"), "NO_COLOR": "1"}
    return env


class Flow:
    def __init__(self, root: Path, cache: Path, outputs: dict[str, tuple[int, str]]) -> None:
        self.root, self.cache, self.outputs = root, cache, outputs


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    backends = _backend_wheels()
    _sandbox()
    tmp = tmp_path_factory.mktemp("wheels")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    sdists = fixture_sdists(tmp / "sdists", listener.getsockname()[1])
    up = Upstream(tmp / "upstream")
    for name, path in sdists.items():
        up.add_file(Dist(name=name, version="1.0", wheel_tags=()), path)
    twin = _wheel_of(sdists["twin"], tmp / "twin", _env(tmp))
    evil = _wheel_of(sdists["evil"], tmp / "evil", _env(tmp))
    _add_module(evil)
    up.add_file(Dist(name="twin", version="1.0"), twin)
    up.add_file(Dist(name="evil", version="1.0"), evil)
    for wheel in backends:
        dist_name, version = wheel.name.split("-")[:2]
        up.add_file(Dist(name=dist_name, version=version), wheel)
    outputs: dict[str, tuple[int, str]] = {}
    with up:
        root = lock_repo(tmp / "repo", up.index_url, allow_sdist=True)
        config = root / "catalog" / "config.yaml"
        text = config.read_text("utf-8").replace("min_release_age_days: 7", "min_release_age_days: 0")
        assert "wheel-differs-from-sdist]" in text  # the project's config blocks a differing wheel
        config.write_text(
            text + "build:\n  from_source: pure\n  serve: upstream\n  time_limit: 300\n", "utf-8"
        )
        cache = tmp / "cache"
        write_request(
            root,
            "builds",
            [(n, "==1.0") for n in sdists],  # their build backends: added by the lock (to build them)
            platforms=("linux",),
            python=(PY,),
        )
        write_request(  # what a team installs: its environment names the wheels built here
            root,
            "runtime",
            [("purest", "==1.0"), ("flitty", "==1.0"), ("cfast", "==1.0"), ("twin", "==1.0")],
            platforms=("linux",),
            python=(PY,),
        )
        os.environ["CURATE_CACHE_DIR"] = str(cache)
        try:
            assert curate(root, "lock") == 0
            assert curate(root, "fetch") == 0
            assert curate(root, "vet", "--no-advisories") == 0
            outputs["wheels"] = _capture(lambda: curate(root, "wheels"))
            outputs["vet"] = _capture(lambda: curate(root, "vet", "--no-advisories"))
            outputs["build"] = _capture(lambda: curate(root, "build", "--index-only"))
            yield Flow(root, cache, outputs)
        finally:
            os.environ.pop("CURATE_CACHE_DIR", None)
            listener.close()


def _capture(call: object) -> tuple[int, str]:
    import contextlib

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = call()  # type: ignore[operator]
    return int(code), out.getvalue()


def test_builds_what_has_no_wheel_and_records_it(flow: Flow) -> None:
    code, text = flow.outputs["wheels"]
    assert code == 1, text  # some builds fail, on purpose
    # one environment per build-dependency set (setuptools, flit_core, hatchling), shared read-only
    assert "build environments: 3 prepared" in text, text
    catalog = _catalog(flow.root)
    built = {str(name): p.versions[0].built for name, p in catalog.items() if p.versions[0].built}
    for name in ("purest", "flitty", "hatchy"):
        (b,) = built[name]
        assert b.filename.endswith("-none-any.whl")
        assert b.origin == "built"
        assert b.reproducible == "identical", b
        assert not b.problems, b
        assert b.sdist_sha256 == catalog[name].versions[0].files[0].sha256
        assert b.frontend.startswith("uv ")
        assert b.python.startswith(PY)
        assert len(b.build_deps) == 64
        assert blob_path(flow.cache, b.sha256).stat().st_size == b.size  # the bytes: in the cache only
        # the package source was exactly what the catalog locked to build it (curate.builddeps)
        pins = build_set(load_catalog(flow.root), (normalize(name), "1.0"), f"linux-x86_64-py{PY}")
        assert pins, name
        listed = "".join(
            f"{p.wheel.filename} {p.wheel.sha256}\n" for p in sorted(pins, key=lambda p: p.wheel.filename)
        )
        assert b.build_deps == hashlib.sha256(listed.encode()).hexdigest()
    (c,) = built["cfast"]
    assert "manylinux" in c.filename, c
    assert c.repair.startswith("auditwheel"), c
    assert c.reproducible == "identical", c  # unpacked at the same path in both builds: the same .so
    assert c.targets == (f"linux-x86_64-py{PY}",)
    assert "wheels:" not in (flow.root / "catalog" / "packages" / "purest.yaml").read_text()
    assert curate(flow.root, "lock", "--check") == 0  # built: is not the lock's part


def test_failures_name_the_package_target_and_reason(flow: Flow) -> None:
    _, text = flow.outputs["wheels"]
    target = f"linux-x86_64-py{PY}"
    assert f"failed: broken 1.0 for {target}: the build failed" in text
    assert "this build always fails" in text  # the last lines of the log
    assert f"failed: sneaky 1.0 for {target}: the build tried to reach the network" in text
    assert f"failed: scribbler 1.0 for {target}: the build tried to write outside its build directory" in text
    assert not SCRIBBLED.exists()
    catalog = _catalog(flow.root)
    # vetted like an upstream wheel, its licence included: it is recorded with the problem, never served
    (relicensed,) = catalog["relicensed"].versions[0].built
    assert relicensed.problems, relicensed
    assert "GPL-3.0-only" in " ".join(relicensed.problems), relicensed.problems
    assert not (flow.root / "public" / "files" / "relicensed" / relicensed.filename).exists()
    (failure,) = catalog["broken"].versions[0].build_failures
    assert failure.targets == (target,)
    assert "failed" in failure.reason


def test_rebuild_and_compare(flow: Flow) -> None:
    catalog = _catalog(flow.root)
    (twin,) = catalog["twin"].versions[0].built
    assert twin.compared_with.startswith("twin-1.0")
    assert not twin.added
    assert not twin.changed
    (evil,) = catalog["evil"].versions[0].built
    assert evil.added == ("evil_extra.py",)
    record = catalog["evil"].versions[0].vetting
    assert record is not None
    assert record.status == "block"
    assert [f.kind for f in record.findings if f.decision == "block"] == ["wheel-differs-from-sdist"]
    assert "evil_extra.py" in flow.outputs["vet"][1]
    _code, text = flow.outputs["build"]
    assert "evil" in text
    assert "wheel-differs-from-sdist" in text


def test_a_policy_that_only_warns_on_a_differing_wheel_serves_it(flow: Flow, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(flow.root, root, ignore=shutil.ignore_patterns("public"))
    config = root / "catalog" / "config.yaml"
    text = config.read_text("utf-8").replace(", wheel-differs-from-sdist]", "]")
    config.write_text(text.replace("  warn: [", "  warn: [wheel-differs-from-sdist, "), "utf-8")
    _capture(lambda: curate(root, "vet", "--no-advisories"))
    record = _catalog(root)["evil"].versions[0].vetting
    assert record is not None
    assert record.status == "warn"
    assert ("wheel-differs-from-sdist", "warn") in [(f.kind, f.decision) for f in record.findings]
    _code, out = _capture(lambda: curate(root, "build", "--index-only"))
    served = root / "public" / "files" / "evil" / "evil-1.0-py3-none-any.whl"
    assert served.is_file(), out
    # a policy that lists the kind nowhere (written before it existed) still refuses it: fail closed
    config.write_text(
        config.read_text("utf-8").replace("warn: [wheel-differs-from-sdist, ", "warn: ["), "utf-8"
    )
    _capture(lambda: curate(root, "vet", "--no-advisories"))
    _code, out = _capture(lambda: curate(root, "build", "--index-only"))
    assert "evil 1.0: an upstream wheel differs from what its sdist builds (wheel-differs-from-sdist)" in out
    # the index updated in place under another policy: the files it no longer serves are gone from it
    assert not served.exists()
    assert not list((root / "public" / "files").glob("evil/*"))
    assert "<a " not in (root / "public" / "simple" / "evil" / "index.html").read_text("utf-8")


def test_installs_from_the_index_with_pip_and_uv(flow: Flow, tmp_path: Path) -> None:
    server = make_server(flow.root / "public", port=0, quiet=True)
    stop = serve_in_thread(server)
    try:
        index = url_of(server) + "/simple/"
        names = ["purest", "flitty", "hatchy", "cfast", "twin"]
        pip_dir, uv_dir = tmp_path / "pip", tmp_path / "uv"
        env = _env(tmp_path)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--no-cache-dir",
                "--only-binary",
                ":all:",
                "--index-url",
                index,
                "--target",
                str(pip_dir),
                *names,
            ],
            check=True,
            capture_output=True,
            env=env,
            timeout=300,
        )
        uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--python",
                sys.executable,
                "--only-binary",
                ":all:",
                "--index-url",
                index,
                "--target",
                str(uv_dir),
                *names,
            ],
            check=True,
            capture_output=True,
            env=env,
            timeout=300,
        )
        code = "import purest, flitty, hatchy, cfast, twin; assert cfast.answer() == 42; print('ok')"
        for where in (pip_dir, uv_dir):
            out = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                env={**env, "PYTHONPATH": str(where)},
                timeout=120,
            )
            assert out.stdout.strip() == "ok", out.stderr
    finally:
        stop()


def test_missing_bytes_are_not_served_until_reproduced(flow: Flow) -> None:
    catalog = _catalog(flow.root)
    (b,) = catalog["purest"].versions[0].built
    served = flow.root / "public" / "files" / "purest" / b.filename
    assert served.exists()
    blob_path(flow.cache, b.sha256).unlink()  # a fresh machine: the publish job's cache lacks the bytes
    shutil.rmtree(flow.root / "public")
    code, text = _capture(lambda: curate(flow.root, "build", "--index-only"))
    assert "its bytes are not in the cache" in text
    assert b.filename in text
    assert not served.exists()
    code, text = _capture(lambda: curate(flow.root, "wheels", "purest"))
    assert code == 0, text
    assert f"reproduced purest 1.0: {b.filename}" in text
    code, text = _capture(lambda: curate(flow.root, "build", "--index-only"))
    assert served.exists()
    assert "purest" not in text


def test_nothing_to_build_is_a_quick_no_op(flow: Flow) -> None:
    before = (flow.root / "catalog" / "packages" / "cfast.yaml").read_bytes()
    code, text = _capture(lambda: curate(flow.root, "wheels"))
    assert code == 0, text
    assert "0 build job(s)" in text
    assert (flow.root / "catalog" / "packages" / "cfast.yaml").read_bytes() == before


def test_a_build_past_its_time_limit_is_stopped(tmp_path: Path) -> None:
    _backend_wheels()
    sandbox = _sandbox()
    sdist = make_sdist(
        tmp_path / "s", "sleepy", "1.0", _setuptools("sleepy", "import time\ntime.sleep(600)\n")
    )
    findlinks = tmp_path / "fl"
    shutil.copytree(WHEELHOUSE, findlinks)
    attempt = build_once(
        sdist,
        python=Path(sys.executable),
        findlinks=findlinks,
        workdir=tmp_path / "w",
        builder=find_builder(os.environ),
        sandbox=sandbox,
        time_limit=8,
        epoch=EPOCH,
    )
    assert attempt.wheel is None
    assert attempt.reason == "the build ran past its time limit (8 s)"


# A setup.py that tries to change the build environment it shares with the other builds of its build set:
# a .pth file that would run in every later build, the backend's own code, a file deleted, the scripts.
TAMPER = (
    WHEN_BUILDING
    + """    import os, shutil, setuptools
    pkg = os.path.dirname(setuptools.__file__)
    site = os.path.dirname(pkg)
    errors = []
    for attempt in (
        lambda: open(os.path.join(site, 'poison.pth'), 'w').write('import os; os._exit(3)\\n'),
        lambda: open(os.path.join(pkg, '__init__.py'), 'a').write('raise SystemExit(3)\\n'),
        lambda: os.remove(os.path.join(pkg, 'build_meta.py')),
        lambda: shutil.rmtree(os.path.join(sys.prefix, 'bin')),
        lambda: os.chmod(pkg, 0o777),
    ):
        try:
            attempt()
        except OSError as exc:
            errors.append(str(exc))
    raise SystemExit('\\n'.join(errors) if len(errors) == 5 else 'a write went through')
"""
    + SETUP
)


def _tree(root: Path) -> list[tuple[str, int, str]]:
    """Every entry under ``root``: its path, mode and (files) sha256 or (links) target."""
    out = []
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            what = os.readlink(path)
        elif path.is_file():
            what = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            what = ""
        out.append((str(path.relative_to(root)), st.st_mode, what))
    return out


def test_a_build_cannot_change_the_shared_build_environment(tmp_path: Path) -> None:
    """The builds of one build set share one prepared environment, mounted read-only: a build that tries
    to write into it fails as writing outside its build directory, the environment is unchanged, and the
    next build in it (with no other package source) builds, to the bytes an isolated build makes."""
    backends = _backend_wheels()
    sandbox = _sandbox()
    if sandbox.kind != "bwrap":
        pytest.skip(f"a shared build environment needs bwrap (this machine's sandbox: {sandbox.kind})")
    builder = find_builder(os.environ)
    (setuptools,) = [w for w in backends if w.name.startswith("setuptools-")]
    findlinks = tmp_path / "fl"
    findlinks.mkdir()
    shutil.copyfile(setuptools, findlinks / setuptools.name)
    env, log = prepare_build_env(
        tmp_path / "env",
        python=Path(sys.executable),
        requirements=[f"setuptools=={setuptools.name.split('-')[1]}"],
        findlinks=findlinks,
        builder=builder,
        sandbox=sandbox,
        time_limit=300,
    )
    assert env is not None, log
    assert list(env.glob("lib/python*/site-packages/setuptools/__pycache__/*.pyc"))  # compiled once, here
    before = _tree(env)
    no_source = tmp_path / "no-package-source"
    no_source.mkdir()

    def build(name: str, setup_py: str = "", shared: bool = True) -> Attempt:
        return build_once(
            make_sdist(tmp_path / "sdists", name, "1.0", _setuptools(name, setup_py)),
            python=Path(sys.executable),
            findlinks=no_source if shared else findlinks,
            workdir=tmp_path / f"work-{name}-{'shared' if shared else 'isolated'}",
            builder=builder,
            sandbox=sandbox,
            time_limit=300,
            epoch=EPOCH,
            buildenv=env if shared else None,
        )

    tampered = build("tamperer", TAMPER)
    assert tampered.wheel is None
    assert tampered.reason == "the build tried to write outside its build directory", tampered
    assert sum("Read-only file system" in line for line in tampered.log) == 5, tampered.log
    assert _tree(env) == before
    after = build("afterwards")
    assert after.wheel is not None, after
    assert after.wheel.name == "afterwards-1.0-py3-none-any.whl"
    assert _tree(env) == before
    # the same bytes as a build in an environment of its own (how wheels recorded before were built: the
    # publish job's rebuild must reproduce them)
    isolated = build("afterwards", shared=False)
    assert isolated.wheel is not None, isolated
    assert isolated.wheel.read_bytes() == after.wheel.read_bytes()


def test_built_bytes_are_handed_on_only_by_sha256(flow: Flow, tmp_path: Path) -> None:
    """publish.yml: the wheels job exports what it rebuilt; the build job imports only the recorded bytes."""
    handed = tmp_path / "built-wheels"
    code, text = _capture(lambda: curate(flow.root, "wheels", "--export", str(handed)))
    assert code == 0, text
    (b,) = _catalog(flow.root)["hatchy"].versions[0].built
    assert (handed / b.filename).read_bytes() == blob_path(flow.cache, b.sha256).read_bytes()
    assert b.sha256 in (handed / "SHA256SUMS").read_text()
    blob_path(flow.cache, b.sha256).unlink()  # the publishing job's cache lacks it
    (handed / b.filename).write_bytes(b"not the wheel that was reviewed")
    code, text = _capture(lambda: curate(flow.root, "wheels", "--import", str(handed)))
    assert code == 1
    assert f"not had: {b.filename}" in text
    assert not blob_path(flow.cache, b.sha256).exists()
    export_dir = tmp_path / "again"
    code, text = _capture(lambda: curate(flow.root, "wheels", "hatchy"))  # rebuilt: it reproduces
    assert code == 0, text
    assert f"reproduced hatchy 1.0: {b.filename}" in text
    assert curate(flow.root, "wheels", "--export", str(export_dir)) == 0
    blob_path(flow.cache, b.sha256).unlink()
    code, text = _capture(lambda: curate(flow.root, "wheels", "--import", str(export_dir)))
    assert code == 0, text
    assert blob_path(flow.cache, b.sha256).read_bytes() == (export_dir / b.filename).read_bytes()
    # publish.yml: a folder per wheels job's artifact; another job's file of the same name (other bytes)
    # neither replaces nor hides the right one
    artifacts = tmp_path / "artifacts"
    (artifacts / "built-wheels-linux-x86_64").mkdir(parents=True)
    (artifacts / "built-wheels-a-hostile-one").mkdir()
    (artifacts / "built-wheels-a-hostile-one" / b.filename).write_bytes(b"not the wheel that was reviewed")
    shutil.copyfile(export_dir / b.filename, artifacts / "built-wheels-linux-x86_64" / b.filename)
    blob_path(flow.cache, b.sha256).unlink()
    code, text = _capture(lambda: curate(flow.root, "wheels", "--import", str(artifacts)))
    assert code == 0, text
    assert blob_path(flow.cache, b.sha256).read_bytes() == (export_dir / b.filename).read_bytes()


def test_no_geteuid_and_no_sandbox_tool_is_no_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows (no os.geteuid, no bwrap or unshare) looking for a sandbox finds none; it does not crash."""
    from curate import builddeps, wheels

    monkeypatch.delattr(os, "geteuid")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert builddeps.unshare_net() == ["unshare", "-r", "-n"]
    assert wheels.find_sandbox(allow_none=True, env={}).kind == "none"
    with pytest.raises(wheels.WheelsError, match="no sandbox to build in"):
        wheels.find_sandbox(allow_none=False, env={})


def test_curate_installed_under_tmp_is_seen_inside_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox's fresh /tmp hid a checkout under /tmp (its .venv: uv, pyproject_hooks), and every build
    and backend query failed there ("can't open file .../_in_process.py"): it is bound again, read-only."""
    import sys

    from curate import builddeps, wheels

    monkeypatch.setattr(sys, "prefix", "/tmp/clone/.venv")
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    assert builddeps.own_install_under_tmp() == ["--ro-bind", "/tmp/clone/.venv", "/tmp/clone/.venv"]
    cmd = wheels.Sandbox(kind="bwrap", home="").wrap(["true"], [])
    at = cmd.index("/tmp")  # --tmpfs /tmp, then the installation shown again
    assert cmd[at + 1 : at + 4] == ["--ro-bind", "/tmp/clone/.venv", "/tmp/clone/.venv"]


def test_the_site_says_built_only_while_the_index_can_serve_it(flow: Flow, tmp_path: Path) -> None:
    from curate import site
    from curate.config import load_config

    config = load_config(flow.root)
    cache = tmp_path / "cache"  # a copy: other tests of this module use the fixture's cache
    shutil.copytree(flow.cache, cache)

    def cells() -> str:
        data = site.collect(flow.root, config, env=dict(os.environ), cache_dir=cache)
        (row,) = site.project_view(data, data.projects[normalize("purest")])["rows"]
        return str(row["cells"])

    assert "built from source" in cells()
    (b,) = _catalog(flow.root)["purest"].versions[0].built
    blob_path(cache, b.sha256).unlink()  # the index leaves it out now: so does the site
    assert "built from source" not in cells()


RUNTIME = "2026-11-21-runtime"


def test_the_environment_names_the_built_wheels_and_installs_them(flow: Flow, tmp_path: Path) -> None:
    """An sdist-only version's environment names the wheel curate wheels built (as the index serves it:
    curate.index.served_built), so uv and pip install that wheel and build nothing; curate env agrees
    offline, and without the built bytes in the cache names the sdist, as the index then serves it."""
    code, text = _capture(lambda: curate(flow.root, "build", "--index-only"))
    catalog = _catalog(flow.root)
    built = {n: catalog[n].versions[0].built[0] for n in ("purest", "flitty", "cfast")}
    target = f"linux-x86_64-py{PY}"
    folder = flow.root / "public" / "envs" / RUNTIME / target
    assert (folder / "pylock.toml").is_file(), text
    lock = tomllib.loads((folder / "pylock.toml").read_text("utf-8"))
    by_name = {p["name"]: p for p in lock["packages"]}
    assert sorted(by_name) == ["cfast", "flitty", "purest", "twin"]
    for name, b in built.items():
        assert "sdist" not in by_name[name], by_name[name]
        (wheel,) = by_name[name]["wheels"]
        assert (wheel["name"], wheel["hashes"]["sha256"], wheel["size"]) == (b.filename, b.sha256, b.size)
    (upstream_twin,) = (f for f in catalog["twin"].versions[0].files if f.is_wheel)
    (twin,) = by_name["twin"]["wheels"]  # build.serve: upstream: the rebuild was only compared
    assert (twin["name"], twin["hashes"]["sha256"]) == (upstream_twin.filename, upstream_twin.sha256)
    page = json.loads((flow.root / "public" / "simple" / "purest" / "index.json").read_text("utf-8"))
    assert built["purest"].sha256 in {f["hashes"]["sha256"] for f in page["files"]}  # what the index serves
    reqs = (folder / "requirements.txt").read_text("utf-8")
    assert all(f"--hash=sha256:{b.sha256}" in reqs for b in built.values())
    sbom = json.loads((folder / "sbom.cdx.json").read_text("utf-8"))
    props = {
        p["name"]: p["value"] for c in sbom["components"] if c["name"] == "purest" for p in c["properties"]
    }
    assert props["curate:origin"] == "built"
    assert props["curate:built:from"] == f"{built['purest'].sdist} sha256:{built['purest'].sdist_sha256}"
    assert props["curate:built:reproducible"] == "identical"
    api = json.loads((flow.root / "public" / "api" / "requests" / f"{RUNTIME}.json").read_text("utf-8"))
    (env,) = api["environments"]
    assert {p["name"]: p["origin"] for p in env["packages"]} == {
        "cfast": "built",
        "flitty": "built",
        "purest": "built",
        "twin": "upstream",
    }

    out = tmp_path / "offline" / "pylock.toml"  # curate env, offline, from catalog/ and the same cache
    code, text = _capture(lambda: curate(flow.root, "env", RUNTIME, "--target", target, "-o", str(out)))
    assert code == 0, text
    assert out.read_bytes() == (folder / "pylock.toml").read_bytes()
    assert "note:" not in text

    server = make_server(flow.root / "public", port=0, quiet=True)
    stop = serve_in_thread(server)
    try:
        url = url_of(server)
        served = tmp_path / "served" / "pylock.toml"
        assert (
            curate(flow.root, "env", RUNTIME, "--target", target, "--base-url", url, "-o", str(served)) == 0
        )
        env_vars = _env(tmp_path)
        uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
        venv = tmp_path / "venv"
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env_vars)
        python = venv / "bin" / "python"
        proc = subprocess.run(
            [uv, "pip", "install", "--python", str(python), "--no-build", "-r", str(served)],
            capture_output=True,
            text=True,
            env=env_vars,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        check = "import purest, flitty, cfast, twin; assert cfast.answer() == 42; print('ok')"
        out_ = subprocess.run([str(python), "-c", check], capture_output=True, text=True, timeout=120)
        assert out_.stdout.strip() == "ok", out_.stderr
        listed = subprocess.run(
            [uv, "pip", "list", "--python", str(python), "--format", "json"],
            capture_output=True,
            text=True,
            env=env_vars,
            check=True,
        )
        assert {p["name"] for p in json.loads(listed.stdout)} == {"cfast", "flitty", "purest", "twin"}
        target_dir = tmp_path / "pip"
        subprocess.run(  # pip, by the hashes alone: it takes the built wheels from the index's pages
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--no-cache-dir",
                "--only-binary",
                ":all:",
                "--require-hashes",
                "--no-deps",
                "--index-url",
                f"{url}/simple/",
                "--target",
                str(target_dir),
                "-r",
                str(folder / "requirements.txt"),
            ],
            check=True,
            capture_output=True,
            env=env_vars,
            timeout=300,
        )
        assert sorted(p.name for p in target_dir.glob("*.dist-info")) == sorted(
            f"{n}-1.0.dist-info" for n in ("cfast", "flitty", "purest", "twin")
        )
    finally:
        stop()

    # without the built wheel's bytes the index does not serve it: curate env names the sdist, and says why
    blob = blob_path(flow.cache, built["flitty"].sha256)
    aside = tmp_path / "aside"
    blob.rename(aside)
    try:
        code, text = _capture(lambda: curate(flow.root, "env", RUNTIME, "--target", target))
    finally:
        aside.rename(blob)
    assert code == 0, text
    (sdist,) = catalog["flitty"].versions[0].files
    assert f'name = "{sdist.filename}"' in text
    assert built["flitty"].filename not in text.split("note:")[0]
    assert (
        f"note: flitty 1.0: built wheel {built['flitty'].filename} (sha256 {built['flitty'].sha256[:12]}...): "
        f"its bytes are not in the cache"
    ) in text
    assert f"so this file names {sdist.filename}" in text


def test_the_time_limit_kills_the_build_where_there_are_no_process_groups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Windows (the ``runner`` kind) there is no os.killpg nor SIGKILL: the build's tree is killed with
    taskkill /T /F, then the process itself (taskkill is not on this machine: its call is recorded)."""
    import curate.wheels as wheels

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], stdout=subprocess.PIPE)
    calls: list[list[str]] = []
    with monkeypatch.context() as mp:
        mp.setattr(os, "name", "nt")
        mp.setattr(subprocess, "run", lambda cmd, **_: calls.append(list(cmd)))
        wheels._kill_tree(proc)
    assert calls == [["taskkill", "/T", "/F", "/PID", str(proc.pid)]]
    assert proc.wait(timeout=30) != 0
    proc.communicate()
