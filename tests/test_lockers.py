"""One version installable on every Python of a request, with the real lockers as the oracle.

The fixture upstream has ``crosspy`` 1.0 and 1.5 (Python >= 3.11, wheels for cp311 and cp312) and 2.0
(>= 3.12, cp312 wheels only); 1.5 needs ``crossdep`` (cp311 and cp312 wheels). Three requests: *team*
(Python 3.11 and 3.12) asks for crosspy < 1.5, *other* (3.12) for crosspy 1.5, *newest* (3.12) for 2.0.
So the catalog holds 1.5 because a 3.12-only request needs it; a team on 3.11 whose lock file picks it
(poetry and pdm pick the newest version whose Requires-Python covers the project) installs it only
because curate serves every version wherever its project is wanted and the upstream has a wheel, with
its dependencies. Against the built index: ``poetry lock`` + ``poetry install``, ``pdm lock`` +
``pdm install``, ``pip-compile`` on 3.11 then ``pip install -r`` on 3.12, ``uv lock`` + ``uv sync``
and plain ``pip install``, each on both Pythons (pyenv's interpreters; a missing one is a skip that
says so). One catalog and one served index for the whole module: these tests are slow.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from curate.build import build
from curate.catalog import load_catalog
from curate.names import NormalizedName
from curate.serve import make_server, serve_in_thread, url_of
from tests.catalogs import vet_as_is
from tests.lockutil import curate, lock_repo, write_request
from tests.test_index_helpers import fill_cache
from tests.upstream import make_upstream
from tests.wheels import Dist

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
PYTHONS = ("3.11", "3.12")
LIN = "manylinux_2_17_x86_64"
TEAM = {
    "linux-x86_64-py3.11",
    "linux-x86_64-py3.12",
    "windows-amd64-py3.11",
    "windows-amd64-py3.12",
}


def _tags(*pythons: str) -> list[str]:
    out = []
    for py in pythons:
        cp = "cp" + py.replace(".", "")
        out += [f"{cp}-{cp}-{LIN}", f"{cp}-{cp}-win_amd64"]
    return out


def dists() -> list[Dist]:
    both = _tags("3.11", "3.12")
    return [
        Dist(name="crosspy", version="1.0", requires_python=">=3.11", wheel_tags=both, sdist=False),
        Dist(
            name="crosspy",
            version="1.5",
            requires_python=">=3.11",
            wheel_tags=both,
            sdist=False,
            requires_dist=["crossdep>=1"],
        ),
        Dist(name="crosspy", version="2.0", requires_python=">=3.12", wheel_tags=_tags("3.12"), sdist=False),
        Dist(name="crossdep", version="1.0", requires_python=">=3.11", wheel_tags=both, sdist=False),
    ]


def interpreter(version: str) -> str:
    """pyenv's CPython ``version`` (or one on PATH); skip, saying which, when the machine has none."""
    found = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")))
    path = found[-1] if found else shutil.which(f"python{version}")
    if not path:
        pytest.skip(f"no Python {version} interpreter (looked in ~/.pyenv/versions and on PATH)")
    return path


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The locked catalog (repository root) and the URL of its served index."""
    base = tmp_path_factory.mktemp("lockers")
    mp = pytest.MonkeyPatch()
    mp.setenv("UV_CACHE_DIR", str(base / "uv-cache"))
    with make_upstream(base / "upstream", dists()) as up:
        try:
            root = lock_repo(base / "repo", up.index_url)
            write_request(root, "team", [("crosspy", "<1.5")], python=PYTHONS)
            write_request(root, "other", [("crosspy", "==1.5")], python=("3.12",), date="2026-11-22")
            write_request(root, "newest", [("crosspy", "==2.0")], python=("3.12",), date="2026-11-23")
            assert curate(root, "lock", "-q") == 0
        finally:
            mp.undo()
        cache = base / "cache"
        fill_cache(up, cache)
    vet_as_is(root)  # the index serves only versions vetted as these bytes
    build(root=root, output=root / "public", cache_dir=cache, env={}, site=False)
    server = make_server(root / "public", port=0, quiet=True)
    stop = serve_in_thread(server)
    yield root, f"{url_of(server)}/simple/"
    stop()


def test_a_version_is_served_wherever_its_project_is_wanted(index: tuple[Path, str]) -> None:
    root, _ = index
    catalog = load_catalog(root)
    crosspy = {v.version: v for v in catalog[NormalizedName("crosspy")].versions}
    # one version for both of team's Pythons (uv's fewest fork strategy)
    assert set(crosspy["1.0"].targets) == TEAM
    # 1.5 is needed on 3.12 only, yet served on team's 3.11 targets too, where its wheels exist
    assert set(crosspy["1.5"].targets) == {"linux-x86_64-py3.12", "windows-amd64-py3.12"}
    served = {t for f in crosspy["1.5"].files for t in f.targets}
    assert served == TEAM
    assert sorted(f.filename for f in crosspy["1.5"].files) == [
        f"crosspy-1.5-{tag}.whl" for tag in sorted(_tags("3.11", "3.12"))
    ]
    # and so is its dependency, which no request resolved on 3.11
    (crossdep,) = catalog[NormalizedName("crossdep")].versions
    assert {t for f in crossdep.files for t in f.targets} == TEAM
    # 2.0 needs Python 3.12: never served for 3.11
    assert {t for f in crosspy["2.0"].files for t in f.targets} == {
        "linux-x86_64-py3.12",
        "windows-amd64-py3.12",
    }
    assert curate(root, "lock", "--check") == 0


# -- the clients -------------------------------------------------------------------------------------


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "POETRY_", "PDM_"))}
    env.update(
        {
            "UV_PYTHON_DOWNLOADS": "never",
            "XDG_CONFIG_HOME": str(tmp / "config"),  # no user-level uv.toml, pip.conf or pdm config
            "UV_CACHE_DIR": str(tmp / "uv-cache"),
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "PIP_NO_CACHE_DIR": "1",
            "POETRY_CACHE_DIR": str(tmp / "poetry-cache"),
            "POETRY_CONFIG_DIR": str(tmp / "poetry-config"),
            "POETRY_VIRTUALENVS_PATH": str(tmp / "poetry-venvs"),
            "POETRY_NO_INTERACTION": "1",
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            "PDM_CACHE_DIR": str(tmp / "pdm-cache"),
            "PDM_CONFIG_FILE": str(tmp / "pdm-config.toml"),
            "PDM_CHECK_UPDATE": "false",
            "PDM_NON_INTERACTIVE": "1",
            "PDM_IGNORE_ACTIVE_VENV": "1",
            "NO_COLOR": "1",
            "VIRTUAL_ENV": "",
        }
    )
    return env


def run(tmp: Path, *cmd: str, cwd: Path | None = None, extra: dict[str, str] | None = None) -> str:
    env = _env(tmp) | (extra or {})
    proc = subprocess.run(cmd, cwd=cwd or tmp, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def venv(tmp: Path, version: str) -> Path:
    """A fresh virtual environment of pyenv's Python ``version``; its interpreter."""
    path = tmp / f"venv-{version}"
    subprocess.run([interpreter(version), "-m", "venv", str(path)], check=True, capture_output=True)
    return path / "bin" / "python"


def crosspy_in(python: Path | str, tmp: Path) -> str:
    """The crosspy version importable with ``python``, and that its dependency imports there too."""
    code = "import crosspy; v = crosspy.__version__; v != '1.5' or __import__('crossdep'); print(v)"
    return run(tmp, str(python), "-c", code).strip()


def project(tmp: Path, index_url: str) -> Path:
    """A consumer project asking for plain ``crosspy``, for Python 3.11 and 3.12, from the catalog only."""
    folder = tmp / "consumer"
    folder.mkdir()
    (folder / "pyproject.toml").write_text(
        f"""[project]
name = "consumer"
version = "0.1.0"
requires-python = ">=3.11,<3.13"
dependencies = ["crosspy"]

[tool.poetry]
package-mode = false

[[tool.poetry.source]]
name = "catalog"
url = "{index_url}"
priority = "primary"

[tool.pdm]
distribution = false

[[tool.pdm.source]]
name = "pypi"
url = "{index_url}"

[tool.uv]
package = false

[[tool.uv.index]]
name = "catalog"
url = "{index_url}"
default = true
""",
        "utf-8",
    )
    return folder


def test_poetry_lock_then_install_on_every_python(index: tuple[Path, str], tmp_path: Path) -> None:
    _, url = index
    folder = project(tmp_path, url)
    poetry = str(BIN / "poetry")
    pythons = {v: interpreter(v) for v in PYTHONS}
    run(tmp_path, poetry, "env", "use", pythons["3.11"], cwd=folder)
    run(tmp_path, poetry, "lock", cwd=folder)
    got = set()
    for version in PYTHONS:
        run(tmp_path, poetry, "env", "use", pythons[version], cwd=folder)
        run(tmp_path, poetry, "install", cwd=folder)
        python = run(tmp_path, poetry, "env", "info", "--executable", cwd=folder).strip()
        got.add(crosspy_in(python, tmp_path))
    assert got == {"1.5"}  # the newest whose Requires-Python covers the project: one version, both Pythons


def test_pdm_lock_then_install_on_every_python(index: tuple[Path, str], tmp_path: Path) -> None:
    _, url = index
    folder = project(tmp_path, url)
    pdm = str(BIN / "pdm")
    pythons = {v: venv(tmp_path, v) for v in PYTHONS}
    run(tmp_path, pdm, "use", "-f", str(pythons["3.11"]), cwd=folder)
    run(tmp_path, pdm, "lock", cwd=folder)
    got = set()
    for version in PYTHONS:
        run(tmp_path, pdm, "use", "-f", str(pythons[version]), cwd=folder)
        run(tmp_path, pdm, "install", "--frozen-lockfile", cwd=folder)
        got.add(crosspy_in(pythons[version], tmp_path))
    assert got == {"1.5"}


def test_pip_compile_on_the_lowest_python_then_pip_install_on_the_other(
    index: tuple[Path, str], tmp_path: Path
) -> None:
    _, url = index
    if sys.version_info[:2] != (3, 11):
        pytest.skip(
            "pip-compile resolves for the Python it runs on: it must run on 3.11, the request's lowest "
            f"(the test environment is {sys.version_info[0]}.{sys.version_info[1]})"
        )
    (tmp_path / "requirements.in").write_text("crosspy\n", "utf-8")
    run(
        tmp_path,
        str(BIN / "pip-compile"),
        "--quiet",
        "--no-header",
        "--index-url",
        url,
        "--generate-hashes",
        "--output-file",
        "requirements.txt",
        "requirements.in",
    )
    pins = sorted(
        line.split(" ")[0]
        for line in (tmp_path / "requirements.txt").read_text("utf-8").splitlines()
        if "==" in line
    )
    assert pins == ["crossdep==1.0", "crosspy==1.5"]  # on 3.11: 2.0 needs 3.12
    for version in PYTHONS:
        python = venv(tmp_path, version)
        run(tmp_path, str(python), "-m", "pip", "install", "--index-url", url, "-r", "requirements.txt")
        assert crosspy_in(python, tmp_path) == "1.5"


def test_uv_lock_then_sync_on_every_python(index: tuple[Path, str], tmp_path: Path) -> None:
    _, url = index
    folder = project(tmp_path, url)
    uv = shutil.which("uv", path=str(BIN)) or "uv"
    pythons = {v: interpreter(v) for v in PYTHONS}
    run(tmp_path, uv, "lock", "--default-index", url, "--python", pythons["3.11"], cwd=folder)
    got = {}
    for version in PYTHONS:
        env = {"UV_PROJECT_ENVIRONMENT": str(tmp_path / f"uv-{version}")}
        run(
            tmp_path,
            uv,
            "sync",
            "--frozen",
            "--default-index",
            url,
            "--python",
            pythons[version],
            cwd=folder,
            extra=env,
        )
        got[version] = crosspy_in(tmp_path / f"uv-{version}" / "bin" / "python", tmp_path)
    assert got == {"3.11": "1.5", "3.12": "2.0"}  # uv's lock forks by Requires-Python


def test_plain_pip_install_on_every_python(index: tuple[Path, str], tmp_path: Path) -> None:
    _, url = index
    got = {}
    for version in PYTHONS:
        python = venv(tmp_path, version)
        run(tmp_path, str(python), "-m", "pip", "install", "--index-url", url, "crosspy")
        got[version] = crosspy_in(python, tmp_path)
    assert got == {"3.11": "1.5", "3.12": "2.0"}
