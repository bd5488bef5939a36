"""Real clients are the oracle: pip and uv install from `curate serve`, from file:// and through a
caching proxy (proxpi); resolution reads .metadata and downloads no wheel; yanked releases are skipped
unless pinned; Requires-Python is honoured; a corrupted file fails the hash check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from curate.serve import Access, make_server, serve_in_thread, url_of
from tests.servers import proxpi
from tests.test_index_helpers import Built, make_built

BIN = Path(sys.executable).parent
UV = shutil.which("uv", path=str(BIN)) or "uv"


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        {
            "UV_PYTHON_DOWNLOADS": "never",
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "UV_NO_CONFIG": "1",
            "UV_CACHE_DIR": str(tmp / "uv-cache"),
            "NO_COLOR": "1",
        }
    )
    return env


def pip(tmp: Path, index: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip", *args, "--no-cache-dir", "--index-url", index]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp), timeout=240)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def uv(tmp: Path, index: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [UV, "pip", *args, "--python", sys.executable, "--index-url", index]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(tmp), timeout=240)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def installed(target: Path) -> dict[str, str]:
    out = {}
    for d in target.glob("*.dist-info"):
        name, version = d.name.removesuffix(".dist-info").rsplit("-", 1)
        out[name.lower().replace("_", "-")] = version
    return out


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Built, str, list[Access]]]:
    built = make_built(tmp_path_factory.mktemp("clients"))
    access: list[Access] = []
    server = make_server(built.public, port=0, access=access, quiet=True)
    stop = serve_in_thread(server)
    yield built, url_of(server), access
    stop()


def _no_wheel_downloads(access: Sequence[Access]) -> None:
    paths = [a.path for a in access if a.method == "GET"]
    assert any(p.endswith(".whl.metadata") for p in paths), paths
    assert not [p for p in paths if p.endswith((".whl", ".tar.gz"))], paths


def test_pip_download_skips_yanked_and_honours_requires_python(
    index: tuple[Built, str, list[Access]], tmp_path: Path
) -> None:
    _, url, _ = index
    pip(tmp_path, f"{url}/simple/", "download", "-d", str(tmp_path / "d"), "webapp==2.0", "newpy", "plus.ver")
    got = sorted(p.name for p in (tmp_path / "d").iterdir())
    assert got == [
        "certy-2024.1-py3-none-any.whl",
        "httpish-1.1-py3-none-any.whl",  # 1.2 is yanked
        "newpy-0.9-py3-none-any.whl",  # 1.0 needs Python >= 3.12; this is 3.11
        "plus_ver-1.0+local-py3-none-any.whl",
        "webapp-2.0-py3-none-any.whl",
    ]
    # a yanked release is still installable when pinned, and a target Python of 3.12 takes newpy 1.0
    pip(
        tmp_path,
        f"{url}/simple/",
        "download",
        "-d",
        str(tmp_path / "e"),
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.12",
        "httpish==1.2",
        "newpy",
    )
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == [
        "httpish-1.2-py3-none-any.whl",
        "newpy-1.0-py3-none-any.whl",
    ]


def test_pip_resolves_from_metadata_without_downloading_wheels(
    index: tuple[Built, str, list[Access]], tmp_path: Path
) -> None:
    _, url, access = index
    access.clear()
    report = tmp_path / "report.json"
    pip(
        tmp_path,
        f"{url}/simple/",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--report",
        str(report),
        "webapp==2.0",
    )
    data = json.loads(report.read_text())
    assert sorted((i["metadata"]["name"], i["metadata"]["version"]) for i in data["install"]) == [
        ("certy", "2024.1"),
        ("httpish", "1.1"),
        ("webapp", "2.0"),
    ]
    _no_wheel_downloads(access)


def test_pip_install_require_hashes(index: tuple[Built, str, list[Access]], tmp_path: Path) -> None:
    built, url, _ = index
    from curate.catalog import load_catalog

    catalog = load_catalog(built.root)
    lines = []
    for name, version in (("webapp", "2.0"), ("httpish", "1.1"), ("certy", "2024.1")):
        (v,) = [v for v in catalog[name].versions if v.version == version]  # type: ignore[index]
        hashes = " ".join(f"--hash=sha256:{f.sha256}" for f in v.files)
        lines.append(f"{name}=={version} {hashes}")
    req = tmp_path / "requirements.txt"
    req.write_text("\n".join(lines) + "\n")
    target = tmp_path / "t"
    pip(tmp_path, f"{url}/simple/", "install", "--require-hashes", "--target", str(target), "-r", str(req))
    assert installed(target) == {"webapp": "2.0", "httpish": "1.1", "certy": "2024.1"}


def test_uv_install_and_compile_with_hashes(index: tuple[Built, str, list[Access]], tmp_path: Path) -> None:
    built, url, access = index
    target = tmp_path / "t"
    uv(tmp_path, f"{url}/simple/", "install", "--target", str(target), "webapp", "newpy", "plus.ver")
    assert installed(target) == {
        "webapp": "2.0",
        "httpish": "1.1",
        "certy": "2024.1",
        "newpy": "0.9",
        "plus-ver": "1.0+local",
    }
    access.clear()
    (tmp_path / "in.txt").write_text("webapp\n")
    out = uv(
        tmp_path,
        f"{url}/simple/",
        "compile",
        str(tmp_path / "in.txt"),
        "--generate-hashes",
        "--no-header",
        "--python-platform",
        "windows",
        "--cache-dir",
        str(tmp_path / "uv-cache-2"),
    ).stdout
    pins = sorted(line.split(" ")[0] for line in out.splitlines() if "==" in line)
    assert pins == ["certy==2024.1", "httpish==1.1", "webapp==2.0", "wincolor==0.4"]
    for f in ("certy-2024.1-py3-none-any.whl", "wincolor-0.4-py3-none-win_amd64.whl"):
        assert built.upstream.file(f).sha256 in out
    _no_wheel_downloads(access)
    assert any(a.accept.startswith("application/vnd.pypi.simple.v1+json") for a in access)


def test_file_url_index(index: tuple[Built, str, list[Access]], tmp_path: Path) -> None:
    built, _, _ = index
    file_index = (built.public / "simple").as_uri() + "/"
    pip(tmp_path, file_index, "install", "--target", str(tmp_path / "p"), "webapp==2.0")
    assert installed(tmp_path / "p") == {"webapp": "2.0", "httpish": "1.1", "certy": "2024.1"}
    uv(tmp_path, file_index, "install", "--target", str(tmp_path / "u"), "webapp==2.0")
    assert installed(tmp_path / "u") == {"webapp": "2.0", "httpish": "1.1", "certy": "2024.1"}


def test_a_corrupted_file_fails_the_hash_check(
    index: tuple[Built, str, list[Access]], tmp_path: Path
) -> None:
    built, _, _ = index
    copy = tmp_path / "public"
    shutil.copytree(built.public, copy)  # real copies, not links: the module's tree stays intact
    wheel = copy / "files" / "certy" / "certy-2024.1-py3-none-any.whl"
    data = bytearray(wheel.read_bytes())
    data[100] ^= 0xFF
    wheel.write_bytes(bytes(data))
    server = make_server(copy, port=0, quiet=True)
    stop = serve_in_thread(server)
    try:
        proc = pip(
            tmp_path,
            f"{url_of(server)}/simple/",
            "download",
            "-d",
            str(tmp_path / "d"),
            "certy",
            check=False,
        )
    finally:
        stop()
    assert proc.returncode != 0
    assert "DO NOT MATCH THE HASHES" in proc.stderr


def test_install_through_a_caching_proxy(index: tuple[Built, str, list[Access]], tmp_path: Path) -> None:
    """proxpi in front of the index, the way an organisation puts Nexus, Artifactory or devpi there."""
    _, url, access = index
    with proxpi(f"{url}/simple/", tmp_path / "proxpi", _env(tmp_path)) as proxy:
        access.clear()
        target = tmp_path / "t"
        pip(tmp_path, proxy, "install", "--target", str(target), "webapp==2.0")
        assert installed(target) == {"webapp": "2.0", "httpish": "1.1", "certy": "2024.1"}
        assert any(a.path.startswith("/simple/webapp") for a in access)
        uv(tmp_path, proxy, "install", "--target", str(tmp_path / "u"), "newpy")
        assert installed(tmp_path / "u") == {"newpy": "0.9"}
