"""`curate publish` to an S3 bucket: moto's S3 server on 127.0.0.1 as the bucket, pip installing from the
bucket's HTTP endpoint after every publish."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from curate.build import build
from curate.cli import main
from curate.config import load_config, parse_duration
from curate.publish import IMMUTABLE, JSON_TYPE, MANIFEST_KEY, Published, content_type, phase_of, publish
from tests.catalogs import write_catalog
from tests.servers import S3_ENV, moto_server, public_bucket
from tests.test_clients import installed, pip
from tests.test_index_helpers import PICKS, Built, make_built

pytestmark = pytest.mark.slow

FIRST = {k: v for k, v in PICKS.items() if k != "webapp"} | {"webapp": ["1.0"]}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


def _config(endpoint: str, bucket: str, grace: str = "1h") -> str:
    return (
        f"\npublish:\n  s3:\n    bucket: {bucket}\n    endpoint_url: {endpoint}\n    grace_period: {grace}\n"
    )


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Callable[[str, str], Built]]:
    """A built catalog publishing to a public bucket; its upstream serves until the test ends (the
    catalog's file URLs name it, so a rebuild of an unchanged project gives the same bytes)."""
    made: list[Built] = []

    def make(endpoint: str, bucket: str) -> Built:
        public_bucket(endpoint, bucket)
        made.append(
            make_built(tmp_path / "b", picks=FIRST, extra_config=_config(endpoint, bucket), keep_serving=True)
        )
        return made[-1]

    yield make
    for built in made:
        built.upstream.stop()


def _rebuild(built: Built, picks: dict[str, list[str]]) -> None:
    packages = built.root / "catalog" / "packages"
    for path in packages.glob("*.yaml"):
        path.unlink()
    write_catalog(built.root, built.upstream, picks, vetted=True)
    build(root=built.root, output=built.public, cache_dir=built.cache, env={}, site=False)


def _publish(built: Built, tmp: Path, *, now: dt.datetime | None = None, dry_run: bool = False) -> Published:
    env = {**S3_ENV, "HOME": str(tmp)}
    return publish(
        root=built.root,
        tree=built.public,
        config=load_config(built.root),
        env=env,
        targets=["s3"],
        cache_dir=built.cache,
        dry_run=dry_run,
        now=now,
    )


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


@functools.cache
def _client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def _manifest(endpoint: str, bucket: str) -> dict[str, list[object]]:
    s3 = _client(endpoint)
    data = json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=MANIFEST_KEY)["Body"].read()))
    objects: dict[str, list[object]] = data["objects"]
    return objects


@pytest.mark.parametrize(
    ("key", "ctype", "phase"),
    [
        ("files/a/a-1.0-py3-none-any.whl", "application/octet-stream", 0),
        ("files/a/a-1.0-py3-none-any.whl.metadata", "application/octet-stream", 1),
        ("files/a/a-1.0.tar.gz", "application/octet-stream", 0),
        ("simple/a/index.html", "text/html; charset=utf-8", 2),
        ("simple/a/", "text/html; charset=utf-8", 2),
        ("simple/a/index.json", JSON_TYPE, 2),
        ("api/a.json", "application/json", 2),
        ("simple/index.html", "text/html; charset=utf-8", 3),
        ("simple/", "text/html; charset=utf-8", 3),
        ("api/catalog.json", "application/json", 3),
        ("index.html", "text/html; charset=utf-8", 4),
        ("assets/stylesheets/main.css", "text/css; charset=utf-8", 4),
        ("search/search_index.json", "application/json", 4),
        ("sitemap.xml.gz", "application/gzip", 4),
        ("README", "application/octet-stream", 4),
    ],
)
def test_object_types_and_order(key: str, ctype: str, phase: int) -> None:
    assert (content_type(key), phase_of(key)) == (ctype, phase)


def test_durations() -> None:
    assert parse_duration("7d") == dt.timedelta(days=7)
    assert parse_duration("36h") == dt.timedelta(hours=36)
    assert parse_duration("0s") == dt.timedelta(0)
    assert parse_duration("3") == dt.timedelta(days=3)
    assert parse_duration("soon") is None


def test_publish_to_a_bucket(
    endpoint: str,
    repo: Callable[[str, str], Built],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    bucket = "catalog-lifecycle"
    built = repo(endpoint, bucket)
    index = f"{endpoint}/{bucket}/simple/"
    base = f"{endpoint}/{bucket}/"

    # a dry run lists what would go up and changes nothing
    dry = _publish(built, tmp_path, dry_run=True).results[0]
    assert dry.dry_run
    assert dry.uploaded
    assert not dry.deleted
    assert _get(index)[0] == 404

    # first publish: everything, through the CLI; pip installs from the bucket
    code = main(["-C", str(built.root), "publish", "--target", "s3", "--cache-dir", str(built.cache), "-q"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"s3 s3://{bucket}/: uploaded " in out
    served = sorted(
        p.relative_to(built.public).as_posix()
        for p in built.public.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
    objects = _manifest(endpoint, bucket)
    dirs = sorted({k.rsplit("index.html", 1)[0] for k in served if k.endswith("/index.html")})
    assert sorted(objects) == sorted([*served, *dirs])
    pip(tmp_path, index, "install", "--target", str(tmp_path / "t1"), "webapp")
    assert installed(tmp_path / "t1") == {"webapp": "1.0", "httpish": "1.1", "certy": "2024.1"}
    status, headers, _ = _get(f"{base}files/certy/certy-2024.1-py3-none-any.whl")
    assert (status, headers["content-type"], headers["cache-control"]) == (
        200,
        "application/octet-stream",
        IMMUTABLE,
    )
    status, headers, body = _get(f"{base}simple/webapp/")
    assert (status, headers["content-type"], headers["cache-control"]) == (
        200,
        "text/html; charset=utf-8",
        "no-cache",
    )
    assert body == (built.public / "simple" / "webapp" / "index.html").read_bytes()
    assert _get(f"{base}simple/webapp/index.json")[1]["content-type"] == JSON_TYPE

    # a no-op publish uploads nothing
    again = _publish(built, tmp_path).results[0]
    assert (again.uploaded, again.deleted, again.pending) == ((), (), ())
    assert again.unchanged == len(objects)

    # one project changed: only its objects and the root pages go up, files before pages
    _rebuild(built, {**FIRST, "webapp": ["1.0", "2.0"]})
    changed = _publish(built, tmp_path).results[0]
    assert set(changed.uploaded) == {
        "files/webapp/webapp-2.0-py3-none-any.whl",
        "files/webapp/webapp-2.0-py3-none-any.whl.metadata",
        "simple/webapp/index.html",
        "simple/webapp/index.json",
        "simple/webapp/",
        "api/webapp.json",
        "api/catalog.json",  # the root: webapp's latest version changed (simple/ lists names only, unchanged)
    }
    phases = [phase_of(k) for k in changed.uploaded]
    assert phases == sorted(phases)
    pip(tmp_path, index, "install", "--target", str(tmp_path / "t2"), "webapp==2.0")
    assert installed(tmp_path / "t2")["webapp"] == "2.0"

    # a removed project stays for the grace period, then goes
    picks = {**FIRST, "webapp": ["1.0", "2.0"]}
    del picks["newpy"]
    _rebuild(built, picks)
    now = dt.datetime.now(dt.UTC)
    removed = _publish(built, tmp_path, now=now).results[0]
    gone = {k for k, _ in removed.pending}
    assert {"simple/newpy/", "simple/newpy/index.html", "api/newpy.json"} <= gone
    assert all(k.startswith(("simple/newpy/", "files/newpy/", "api/newpy.json")) for k in gone)
    assert removed.deleted == ()
    assert _get(f"{base}simple/newpy/")[0] == 200  # clients with the old root still find it
    later = _publish(built, tmp_path, now=now + dt.timedelta(minutes=30)).results[0]
    assert (later.uploaded, later.deleted, {k for k, _ in later.pending}) == ((), (), gone)
    after = _publish(built, tmp_path, now=now + dt.timedelta(hours=1, seconds=1)).results[0]
    assert set(after.deleted) == gone
    assert after.pending == ()
    assert _get(f"{base}simple/newpy/")[0] in (403, 404)
    assert not set(_manifest(endpoint, bucket)) & gone
    proc = pip(tmp_path, index, "download", "--no-deps", "-d", str(tmp_path / "d"), "newpy", check=False)
    assert proc.returncode != 0
    pip(tmp_path, index, "install", "--target", str(tmp_path / "t3"), "webapp==2.0")
    assert installed(tmp_path / "t3")["webapp"] == "2.0"
    final = _publish(built, tmp_path, now=now + dt.timedelta(days=1)).results[0]
    assert (final.uploaded, final.deleted, final.pending) == ((), (), ())


def test_a_killed_publish_leaves_the_previous_state_serving_and_resumes(
    endpoint: str, repo: Callable[[str, str], Built], tmp_path: Path
) -> None:
    bucket = "catalog-killed"
    built = repo(endpoint, bucket)
    index = f"{endpoint}/{bucket}/simple/"
    _publish(built, tmp_path)
    before = _manifest(endpoint, bucket)

    # the next state: a new webapp version, and many more objects to upload before its page
    _rebuild(built, {**FIRST, "webapp": ["1.0", "2.0"]})
    padding = built.public / "files" / "zz-padding"
    padding.mkdir()
    for i in range(700):
        (padding / f"pad-{i:04d}.bin").write_bytes(f"padding {i}\n".encode())
    env = {**os.environ, **S3_ENV, "HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "curate", "-C", str(built.root), "publish", "-t", "s3", "-j", "1"]
    proc = subprocess.Popen(
        [*cmd, "--cache-dir", str(built.cache)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    try:
        while True:  # kill it once it has recorded some of its uploads in the bucket's manifest
            assert proc.poll() is None, "the publish finished before it could be killed"
            assert time.monotonic() < deadline
            checkpoint = _manifest(endpoint, bucket)
            if any(k.startswith("files/zz-padding/") for k in checkpoint):
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    recorded = {k for k in _manifest(endpoint, bucket) if k not in before}
    assert recorded
    assert all(k.startswith("files/") for k in recorded)

    # the previous state still serves: the page does not link the new version yet
    assert b"webapp-2.0" not in _get(f"{endpoint}/{bucket}/simple/webapp/")[2]
    pip(tmp_path, index, "install", "--target", str(tmp_path / "t1"), "webapp")
    assert installed(tmp_path / "t1")["webapp"] == "1.0"

    # the re-run uploads what is missing, not what the killed run recorded
    resumed = _publish(built, tmp_path).results[0]
    assert resumed.uploaded
    assert not set(resumed.uploaded) & recorded
    assert "simple/webapp/" in resumed.uploaded
    pip(tmp_path, index, "install", "--target", str(tmp_path / "t2"), "webapp")
    assert installed(tmp_path / "t2")["webapp"] == "2.0"
    shutil.rmtree(padding)


def test_the_bucket_is_private_unless_its_policy_says_otherwise(endpoint: str, tmp_path: Path) -> None:
    """curate never sets an ACL or a policy: an object in a bucket without a public policy is refused."""
    s3 = _client(endpoint)
    s3.create_bucket(Bucket="catalog-private")
    built = make_built(
        tmp_path / "b", picks={"certy": ["2024.1"]}, extra_config=_config(endpoint, "catalog-private")
    )
    assert _publish(built, tmp_path).results[0].uploaded
    assert _get(f"{endpoint}/catalog-private/simple/")[0] == 403
    head = s3.head_object(Bucket="catalog-private", Key="simple/certy/")
    assert head["ContentType"] == "text/html; charset=utf-8"
