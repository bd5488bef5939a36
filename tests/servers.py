"""Servers the tests run for real on 127.0.0.1: moto's S3 server, devpi-server and the proxpi proxy."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
DEVPI_ROOT_PASSWORD = "root-secret"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never ask an instance metadata service for credentials
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(url: str, proc: subprocess.Popen[Any], log: Path, *, seconds: float = 60) -> None:
    """Until ``url`` answers (any HTTP status), or fail with the server's output."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                resp.read()
            return
        except urllib.error.HTTPError as exc:
            exc.close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                out = log.read_text("utf-8", "replace")[-4000:]
                raise AssertionError(f"{url} did not come up (exit {proc.poll()}):\n{out}") from None
            time.sleep(0.1)


def stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def proxpi(index_url: str, base: Path, env: Mapping[str, str]) -> Iterator[str]:
    """proxpi (a caching proxy, the way an organisation puts Nexus, Artifactory or devpi in front of an
    index) in front of the simple index ``index_url``: yields its own index URL (``.../index/``); its log
    in ``base``, which must show no traceback once it is stopped."""
    port = free_port()
    base.mkdir(parents=True, exist_ok=True)
    log = base / "proxpi.log"
    proxy_env = {
        **env,
        "PROXPI_INDEX_URL": index_url,
        "PROXPI_CACHE_DIR": str(base / "proxpi-cache"),
        "PROXPI_EXTRA_INDEX_URLS": "",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "proxpi.server",
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=proxy_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/index/"
    try:
        wait_for(url, proc, log, seconds=30)
        yield url
    finally:
        stop(proc)
    text = log.read_text("utf-8", "replace")
    assert "Traceback" not in text, text


@contextlib.contextmanager
def moto_server(base: Path) -> Iterator[str]:
    """moto in server mode: a real S3 API (path-style URLs) at the yielded endpoint; its log in ``base``."""
    port = free_port()
    base.mkdir(parents=True, exist_ok=True)
    log = base / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{endpoint}/moto-api/", proc, log)
        yield endpoint
    finally:
        stop(proc)


def public_bucket(endpoint: str, name: str) -> None:
    """A bucket anyone may read (as behind a public CDN): GetObject for every principal."""
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_ENV["AWS_DEFAULT_REGION"],
    )
    s3.create_bucket(Bucket=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{name}/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))


@contextlib.contextmanager
def devpi_server(base: Path, *, offline: bool = True) -> Iterator[str]:
    """devpi-server with no mirror of any public index (``--no-root-pypi``); ``offline``: it fetches
    nothing (a mirror index in front of a local catalog needs ``offline=False``). root's password is
    :data:`DEVPI_ROOT_PASSWORD`."""
    serverdir = base / "devpi"
    init = shutil.which("devpi-init", path=str(BIN)) or "devpi-init"
    server = shutil.which("devpi-server", path=str(BIN)) or "devpi-server"
    subprocess.run(
        [init, "--serverdir", str(serverdir), "--no-root-pypi", "--root-passwd", DEVPI_ROOT_PASSWORD],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    log = base / "devpi.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                server,
                *("--serverdir", str(serverdir), "--host", "127.0.0.1", "--port", str(port)),
                *(("--offline-mode",) if offline else ()),
                # a cheap key derivation for the login tokens: the default takes half a minute on 2 cores
                *("--argon2-time-cost", "1", "--argon2-memory-cost", "8192", "--argon2-parallelism", "1"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/+api", proc, log)
        yield url
    finally:
        stop(proc)


def devpi_request(url: str, method: str, data: Mapping[str, Any], auth: str | None = None) -> Any:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if auth:
        headers["X-Devpi-Auth"] = auth
    req = urllib.request.Request(url, data=json.dumps(data).encode(), method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"{}")


def devpi_index(url: str, user: str, password: str, index: str) -> str:
    """Create ``user`` (if new) and a non-volatile index of theirs without bases; its upload URL."""
    import base64

    with contextlib.suppress(urllib.error.HTTPError):  # 409: the user exists
        devpi_request(f"{url}/{user}", "PUT", {"password": password})
    login = devpi_request(f"{url}/+login", "POST", {"user": user, "password": password})
    token = login["result"]["password"]
    auth = base64.b64encode(f"{user}:{token}".encode()).decode()
    devpi_request(f"{url}/{user}/{index}", "PUT", {"type": "stage", "bases": [], "volatile": False}, auth)
    return f"{url}/{user}/{index}/"
