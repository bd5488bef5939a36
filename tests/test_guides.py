"""The proxies guide's recipes, run as written: its devpi commands and its proxpi command, in front of
the catalog served on 127.0.0.1, then pip and uv installing through the URL the guide gives clients."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from curate.serve import make_server, serve_in_thread, url_of
from tests.conftest import REPO
from tests.servers import BIN, DEVPI_ROOT_PASSWORD, devpi_server, free_port, stop, wait_for
from tests.test_clients import _env, installed, pip, uv
from tests.test_index_helpers import Built, make_built

pytestmark = pytest.mark.slow
GUIDE = REPO / "site" / "guides" / "proxies.md"


def _blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def _section(name: str) -> str:
    text = GUIDE.read_text("utf-8")
    start = text.index(f"\n## {name}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Built, str]]:
    built = make_built(tmp_path_factory.mktemp("guides"))
    server = make_server(built.public, port=0, quiet=True)
    stop_serving = serve_in_thread(server)
    yield built, url_of(server) + "/"
    stop_serving()


def test_the_table_and_the_sections_agree() -> None:
    text = GUIDE.read_text("utf-8")
    assert (
        "| devpi (mirror index) | the **index URL**, `{{ simple_url }}` | `https://DEVPI/root/catalog/+simple/` |"
        in text
    )
    assert "| proxpi | the **index URL**, `{{ simple_url }}` | `https://PROXPI/index/` |" in text
    assert "Clients use\n`https://DEVPI/root/catalog/+simple/`" in text
    assert "Clients use `http://PROXPI:5000/index/`" in text


def test_devpi_recipe(catalog: tuple[Built, str], tmp_path: Path) -> None:
    _, base_url = catalog
    (block,) = _blocks(_section("devpi"))
    with devpi_server(tmp_path, offline=False) as devpi:
        env = {
            **os.environ,
            "DEVPI_CLIENTDIR": str(tmp_path / "client"),
            "DEVPI_ROOT_PASSWORD": DEVPI_ROOT_PASSWORD,
        }
        for line in block.strip().splitlines():
            line = line.replace("https://DEVPI/", devpi + "/").replace(
                "{{ simple_url }}", base_url + "simple/"
            )
            argv = [re.sub(r"\$(\w+)", lambda m: env[m[1]], a) for a in shlex.split(line)]
            assert argv[0] == "devpi"
            proc = subprocess.run(
                [str(BIN / "devpi"), *argv[1:]], env=env, capture_output=True, text=True, timeout=120
            )
            assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
        index = f"{devpi}/root/catalog/+simple/"
        pip(tmp_path, index, "install", "--target", str(tmp_path / "t"), "webapp==2.0")
    assert installed(tmp_path / "t") == {"webapp": "2.0", "httpish": "1.1", "certy": "2024.1"}


def test_proxpi_recipe(catalog: tuple[Built, str], tmp_path: Path) -> None:
    _, base_url = catalog
    (block,) = _blocks(_section("proxpi"))
    line = block.strip().replace("{{ simple_url }}", base_url + "simple/")
    words = shlex.split(line)
    assignments = dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_]+=", w))
    command = [w for w in words if not re.match(r"^[A-Z_]+=", w)]
    assert assignments == {"PROXPI_INDEX_URL": base_url + "simple/", "PROXPI_EXTRA_INDEX_URLS": ""}
    assert command[:4] == ["flask", "--app", "proxpi.server", "run"]
    port = free_port()
    command = [sys.executable, "-m", *command]  # the venv's flask
    command[command.index("0.0.0.0")] = "127.0.0.1"  # tests listen on the loopback only
    command[command.index("5000")] = str(port)
    env = {**_env(tmp_path), **assignments, "PROXPI_CACHE_DIR": str(tmp_path / "proxpi-cache")}
    log = tmp_path / "proxpi.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        proxy = f"http://127.0.0.1:{port}/index/"
        wait_for(proxy, proc, log)
        pip(tmp_path, proxy, "install", "--target", str(tmp_path / "p"), "webapp==2.0")
        uv(tmp_path, proxy, "install", "--target", str(tmp_path / "u"), "newpy")
    finally:
        stop(proc)
    assert installed(tmp_path / "p") == {"webapp": "2.0", "httpish": "1.1", "certy": "2024.1"}
    assert installed(tmp_path / "u") == {"newpy": "0.9"}
    assert "Traceback" not in log.read_text("utf-8", "replace")


def test_a_private_bucket_behind_devpi(catalog: tuple[Built, str], tmp_path: Path) -> None:
    """The publishing guide's private-access recipe: the bucket read only by the manager in front (here a
    bucket policy for everyone stands in for the address condition moto does not evaluate)."""
    from curate.config import load_config
    from curate.publish import publish
    from tests.catalogs import make_repo
    from tests.servers import S3_ENV, moto_server, public_bucket

    guide = (REPO / "site" / "guides" / "publishing.md").read_text("utf-8")
    (line,) = [b.strip() for b in _blocks(guide) if "devpi index -c" in b]
    built, _ = catalog
    with moto_server(tmp_path / "moto") as endpoint:
        public_bucket(endpoint, "catalog-behind-devpi")
        root = make_repo(
            tmp_path / "repo",
            extra_config=f"\npublish:\n  s3:\n    bucket: catalog-behind-devpi\n    endpoint_url: {endpoint}\n",
        )
        publish(root=root, tree=built.public, config=load_config(root), env=S3_ENV, cache_dir=tmp_path / "c")
        with devpi_server(tmp_path, offline=False) as devpi:
            env = {**os.environ, "DEVPI_CLIENTDIR": str(tmp_path / "client")}
            bucket_url = f"{endpoint}/catalog-behind-devpi/"
            commands = [
                ["use", devpi + "/"],
                ["login", "root", "--password", DEVPI_ROOT_PASSWORD],
                shlex.split(line.replace("https://BUCKET-URL/", bucket_url))[1:],
            ]
            for argv in commands:
                proc = subprocess.run(
                    [str(BIN / "devpi"), *argv], env=env, capture_output=True, text=True, timeout=120
                )
                assert proc.returncode == 0, f"{argv}\n{proc.stdout}\n{proc.stderr}"
            pip(
                tmp_path,
                f"{devpi}/root/catalog/+simple/",
                "install",
                "--target",
                str(tmp_path / "t"),
                "webapp",
            )
    assert installed(tmp_path / "t") == {"webapp": "2.0", "httpish": "1.1", "certy": "2024.1"}
