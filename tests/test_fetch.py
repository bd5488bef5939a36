"""curate fetch: every byte verified, retries, resume, offline, and no partial file where a complete one goes."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import urllib3

from curate import fetch
from curate.cache import Wanted, blob_path, wanted_files
from curate.catalog import FileEntry, load_catalog
from curate.cli import main
from curate.config import load_config
from curate.errors import FetchError
from curate.fetch import Fetcher, Progress, RetryPolicy, fetch_all
from curate.httpclient import HttpClient, Limits, proxy_for
from curate.locate import Located, locate
from tests.catalogs import make_repo, write_catalog
from tests.upstream import Fault, Upstream, make_upstream
from tests.wheels import Dist

FAST = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.05, max_retry_after=5.0)
PICKS = {"webapp": ["2.0"], "httpish": ["1.1"], "certy": ["2024.1"], "fastmath": ["1.5"]}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with make_upstream(tmp_path_factory.mktemp("up")) as up:
        yield up


@pytest.fixture
def repo(tmp_path: Path, upstream: Upstream) -> Path:
    root = make_repo(tmp_path / "repo", index_url=upstream.index_url)
    write_catalog(root, upstream, PICKS)
    upstream.faults.clear()
    return root


def _wanted(root: Path) -> list[Wanted]:
    return wanted_files(load_catalog(root).values())


def _located(root: Path) -> list[Located]:
    """The catalog's files where the configured upstream's project pages say they are."""
    with HttpClient({}) as client:
        found = locate(load_config(root).index_url or "", _wanted(root), client=client)
    assert found.problems == ()
    return list(found.located)


def _one(root: Path, filename: str) -> Located:
    return next(w for w in _located(root) if w.file.filename == filename)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


WHEEL = "certy-2024.1-py3-none-any.whl"


def test_fetch_everything_then_nothing(repo: Path, tmp_path: Path, upstream: Upstream) -> None:
    cache = tmp_path / "cache"
    wanted = _located(repo)
    assert len(wanted) == 6
    report = fetch_all(cache, wanted, jobs=4, policy=FAST)
    assert report.errors == ()
    assert len(report.downloaded) == 6
    for w in wanted:
        data = blob_path(cache, w.sha256).read_bytes()
        assert hashlib.sha256(data).hexdigest() == w.sha256
    assert not any((cache / "partial").iterdir())
    before = len(upstream.log)
    again = fetch_all(cache, wanted, jobs=4, policy=FAST)
    assert len(again.cached) == 6
    assert len(upstream.log) == before  # nothing asked of the network


def test_wrong_bytes_is_an_error_and_nothing_is_kept(repo: Path, tmp_path: Path, upstream: Upstream) -> None:
    cache = tmp_path / "cache"
    w = _one(repo, WHEEL)
    upstream.fault(WHEEL, Fault("wrong-bytes"))
    with pytest.raises(FetchError) as err:
        Fetcher(cache, policy=FAST).fetch(w)
    text = str(err.value)
    assert f"{WHEEL}: downloaded bytes do not match the catalog; nothing was kept" in text
    assert f"expected sha256 {w.sha256}" in text
    received = text.split("received sha256 ")[1].split()[0]
    assert received != w.sha256
    assert len(received) == 64
    assert not blob_path(cache, w.sha256).exists()
    assert not any((cache / "partial").iterdir())


@pytest.mark.parametrize(
    ("faults", "sleeps"),
    [
        ([Fault("500")], [0.01]),
        ([Fault("500"), Fault("500")], [0.01, 0.02]),
        ([Fault("429", retry_after=3)], [3.0]),
        ([Fault("drop")], [0.01]),
        ([Fault("truncate")], [0.01]),
    ],
    ids=["500-then-200", "500-500-200", "429-retry-after", "dropped-connection", "truncated-body"],
)
def test_transient_failures_are_retried(
    repo: Path, tmp_path: Path, upstream: Upstream, faults: list[Fault], sleeps: list[float]
) -> None:
    cache = tmp_path / "cache"
    w = _one(repo, WHEEL)
    upstream.fault(WHEEL, *faults)
    slept = Sleeps()
    outcome = Fetcher(cache, policy=FAST, sleep=slept).fetch(w)
    assert outcome.status == "downloaded"
    assert outcome.attempts == len(faults) + 1
    assert slept.calls == sleeps
    assert hashlib.sha256(blob_path(cache, w.sha256).read_bytes()).hexdigest() == w.sha256


def test_truncated_body_resumes_with_a_range_request(repo: Path, tmp_path: Path, upstream: Upstream) -> None:
    w = _one(repo, WHEEL)
    upstream.fault(WHEEL, Fault("truncate"))
    outcome = Fetcher(tmp_path / "cache", policy=FAST, sleep=Sleeps()).fetch(w)
    assert outcome.resumed
    assert outcome.bytes == w.file.size  # half, then the other half: no byte fetched twice


def test_retry_after_is_capped(repo: Path, tmp_path: Path, upstream: Upstream) -> None:
    upstream.fault(WHEEL, Fault("429", retry_after=3600))
    slept = Sleeps()
    policy = RetryPolicy(attempts=3, backoff=0.01, max_retry_after=2.0)
    Fetcher(tmp_path / "cache", policy=policy, sleep=slept).fetch(_one(repo, WHEEL))
    assert slept.calls == [2.0]


def test_slow_response_times_out_and_is_retried(repo: Path, tmp_path: Path, upstream: Upstream) -> None:
    upstream.fault(WHEEL, Fault("slow", delay=1.0))
    policy = RetryPolicy(attempts=3, backoff=0.01)
    with HttpClient({}, limits=Limits(read_timeout=0.2)) as client:
        outcome = Fetcher(tmp_path / "cache", client=client, policy=policy, sleep=Sleeps()).fetch(
            _one(repo, WHEEL)
        )
    assert (outcome.status, outcome.attempts) == ("downloaded", 2)


def test_a_slow_response_within_the_timeout_just_works(
    repo: Path, tmp_path: Path, upstream: Upstream
) -> None:
    upstream.fault(WHEEL, Fault("slow", delay=0.2))
    outcome = Fetcher(tmp_path / "cache", policy=FAST, sleep=Sleeps()).fetch(_one(repo, WHEEL))
    assert outcome.attempts == 1


def test_giving_up_names_the_file_and_keeps_nothing(repo: Path, tmp_path: Path, upstream: Upstream) -> None:
    cache = tmp_path / "cache"
    upstream.fault(WHEEL, *[Fault("500")] * 4)
    with pytest.raises(FetchError, match=rf"{WHEEL}: giving up after 4 tries: HTTP 500"):
        Fetcher(cache, policy=FAST, sleep=Sleeps()).fetch(_one(repo, WHEEL))
    assert not blob_path(cache, _one(repo, WHEEL).sha256).exists()


def test_resume_from_an_earlier_partial_file(repo: Path, tmp_path: Path, upstream: Upstream) -> None:
    cache = tmp_path / "cache"
    w = _one(repo, WHEEL)
    data = upstream.file(WHEEL).path.read_bytes()
    partial = cache / "partial" / w.sha256
    partial.parent.mkdir(parents=True)
    partial.write_bytes(data[:100])
    outcome = Fetcher(cache, policy=FAST).fetch(w)
    assert outcome.resumed
    assert outcome.bytes == len(data) - 100
    assert not partial.exists()


def test_a_corrupt_partial_file_is_restarted(repo: Path, tmp_path: Path, upstream: Upstream) -> None:
    cache = tmp_path / "cache"
    w = _one(repo, WHEEL)
    data = upstream.file(WHEEL).path.read_bytes()
    partial = cache / "partial" / w.sha256
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\0" * 100)  # bad bytes from an earlier, broken run
    outcome = Fetcher(cache, policy=FAST).fetch(w)
    assert outcome.status == "downloaded"
    assert blob_path(cache, w.sha256).read_bytes() == data


def test_file_urls(tmp_path: Path, upstream: Upstream) -> None:
    src = upstream.file(WHEEL)
    entry = FileEntry(filename=WHEEL, sha256=src.sha256, size=src.size)
    w = Located(wanted=Wanted(project="certy", version="2024.1", file=entry), url=src.path.as_uri())
    cache = tmp_path / "cache"
    assert Fetcher(cache, policy=FAST).fetch(w).status == "downloaded"
    assert blob_path(cache, src.sha256).read_bytes() == src.path.read_bytes()
    bad = dataclasses.replace(
        w,
        wanted=Wanted(
            project="certy", version="2024.1", file=FileEntry(**{**entry.to_dict(), "sha256": "0" * 64})
        ),
    )
    with pytest.raises(FetchError, match="do not match"):
        Fetcher(cache, policy=FAST).fetch(bad)


def test_progress_plain_lines_when_not_a_tty(repo: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    wanted = _located(repo)
    progress = Progress(total_files=len(wanted), total_bytes=sum(w.file.size for w in wanted), stream=out)
    fetch_all(tmp_path / "cache", wanted, jobs=2, policy=FAST, progress=progress)
    lines = out.getvalue().splitlines()
    assert len(lines) == 6
    assert lines[-1].startswith("[6/6] downloaded ")
    assert "\r" not in out.getvalue()


def test_progress_says_when_a_download_is_retried(repo: Path, tmp_path: Path, upstream: Upstream) -> None:
    out = io.StringIO()
    w = _one(repo, WHEEL)
    upstream.fault(WHEEL, Fault("429", retry_after=3), Fault("500"))
    progress = Progress(total_files=1, total_bytes=w.file.size, stream=out)
    Fetcher(tmp_path / "cache", policy=FAST, sleep=Sleeps(), progress=progress).fetch(w)
    assert out.getvalue().splitlines() == [
        f"retrying {WHEEL} in 3.0s: HTTP 429",
        f"retrying {WHEEL} in 0.0s: HTTP 500",
    ]
    tty = io.StringIO()
    upstream.fault(WHEEL, Fault("500"))
    progress = Progress(total_files=1, total_bytes=w.file.size, stream=tty, tty=True)
    Fetcher(tmp_path / "cache2", policy=FAST, sleep=Sleeps(), progress=progress).fetch(w)
    assert f"\rretrying {WHEEL} in 0.0s: HTTP 500\x1b[K\n\r[" in tty.getvalue()  # above the redrawn bar


def test_progress_redraws_one_line_on_a_tty(repo: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    wanted = _located(repo)
    total = sum(w.file.size for w in wanted)
    progress = Progress(total_files=len(wanted), total_bytes=total, stream=out, tty=True)
    fetch_all(tmp_path / "cache", wanted, jobs=2, policy=FAST, progress=progress)
    text = out.getvalue()
    assert text.count("\n") == 1
    assert "6/6 files" in text.split("\r")[-1]


def test_cli_offline_lists_what_is_missing(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    assert main(["-C", str(repo), "fetch", "--offline", "--cache-dir", str(cache)]) == 1
    err = capsys.readouterr().err
    assert "6 file(s) missing from the cache:" in err
    assert f"  certy 2024.1: {WHEEL} (sha256 {_one(repo, WHEEL).sha256})" in err
    assert main(["-C", str(repo), "fetch", "-q", "--cache-dir", str(cache)]) == 0
    assert main(["-C", str(repo), "fetch", "--offline", "--cache-dir", str(cache)]) == 0
    assert "all 6 file(s) are in the cache" in capsys.readouterr().out


def test_cli_reports_every_failure(
    repo: Path, tmp_path: Path, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream.fault(WHEEL, Fault("wrong-bytes"))
    cache = tmp_path / "cache"
    with pytest.MonkeyPatch.context() as mp:  # in CI each failure is also an annotation, escaped
        mp.setenv("GITHUB_ACTIONS", "true")
        assert main(["-C", str(repo), "fetch", "--cache-dir", str(cache)]) == 1
    out, err = capsys.readouterr()
    assert f"error: {WHEEL}: downloaded bytes do not match" in err
    (annotation, summary) = out.splitlines()[-2:]
    assert annotation.startswith(f"::error::{WHEEL}: downloaded bytes do not match")
    assert summary.startswith("::error::1 of 6 download(s) failed")
    assert "error: 1 of 6 download(s) failed; no unverified file entered the cache" in err
    assert len(list((cache / "sha256").rglob("*"))) - len(list((cache / "sha256").glob("*"))) == 5


def test_killed_download_leaves_no_file_in_place(tmp_path: Path) -> None:
    """A kill in the middle of a download: nothing in sha256/, and the next run completes the file."""
    big = Dist(name="bigfile", version="1.0", description="x" * 4_000_000, sdist=False)
    with make_upstream(tmp_path / "up", [big]) as up:
        root = make_repo(tmp_path / "repo", index_url=up.index_url)
        write_catalog(root, up, {"bigfile": ["1.0"]})
        (w,) = _located(root)
        cache = tmp_path / "cache"
        up.fault(w.file.filename, Fault("slow", delay=0.5))
        code = (
            "import sys, time\n"
            "from curate import fetch\n"
            "real = fetch.Fetcher._try\n"
            "def slow(self, wanted, url, partial):\n"
            "    self.progress = type('P', (), {'advance': lambda s, n: time.sleep(0.05)})()\n"
            "    return real(self, wanted, url, partial)\n"
            "fetch.Fetcher._try = slow\n"
            "fetch.CHUNK = 4096\n"
            "from curate.cli import main\n"
            f"sys.exit(main(['-C', {str(root)!r}, 'fetch', '-q', '--cache-dir', {str(cache)!r}]))\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": os.getcwd()})
        partial = cache / "partial" / w.sha256
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (partial.exists() and partial.stat().st_size > 0):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert partial.exists()
        assert 0 < partial.stat().st_size < w.file.size
        assert not blob_path(cache, w.sha256).exists()
        outcome = Fetcher(cache, policy=FAST).fetch(w)
        assert outcome.resumed
        assert hashlib.sha256(blob_path(cache, w.sha256).read_bytes()).hexdigest() == w.sha256


def test_ctrl_c_stops_workers_and_keeps_partials_aside(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    wanted = _located(repo)

    class Boom(Progress):
        def advance(self, n: int) -> None:
            raise KeyboardInterrupt

    progress = Boom(total_files=6, total_bytes=1, stream=io.StringIO())
    with pytest.raises(KeyboardInterrupt):
        fetch_all(cache, wanted, jobs=2, policy=FAST, progress=progress)
    assert not (cache / "sha256").exists() or not any(p.is_file() for p in (cache / "sha256").rglob("*"))


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("https://upstream.example/f.whl", {}, None),
        ("https://upstream.example/f.whl", {"HTTPS_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
        ("https://upstream.example/f.whl", {"https_proxy": "http://p:1"}, "http://p:1"),
        ("http://upstream.example/f.whl", {"HTTPS_PROXY": "http://proxy:3128"}, None),
        ("https://upstream.example/f.whl", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".example"}, None),
        (
            "https://upstream.example/f.whl",
            {"HTTPS_PROXY": "http://p:1", "no_proxy": "other.org"},
            "http://p:1",
        ),
    ],
)
def test_proxy_from_the_environment(url: str, env: dict[str, str], expected: str | None) -> None:
    assert proxy_for(url, env) == expected


def test_an_interrupted_download_stops_reading_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in a big download: the rest of the body is not read (drained) to keep the connection."""
    big = Dist(name="bigfile", version="1.0", description="x" * 4_000_000, sdist=False)
    drained: list[object] = []
    real_drain = urllib3.response.HTTPResponse.drain_conn

    def recording_drain(self: urllib3.response.HTTPResponse) -> None:
        drained.append(self)
        real_drain(self)

    monkeypatch.setattr(urllib3.response.HTTPResponse, "drain_conn", recording_drain)
    monkeypatch.setattr(fetch, "CHUNK", 4096)
    with make_upstream(tmp_path / "up", [big]) as up:
        root = make_repo(tmp_path / "repo", index_url=up.index_url)
        write_catalog(root, up, {"bigfile": ["1.0"]})
        (w,) = _located(root)
        fetcher = Fetcher(tmp_path / "cache", policy=FAST)

        class CtrlC(Progress):
            def advance(self, n: int) -> None:
                fetcher.cancelled.set()  # what fetch_all does on Ctrl-C

        fetcher.progress = CtrlC(total_files=1, total_bytes=w.file.size, stream=io.StringIO())
        with pytest.raises(fetch.Interrupted):
            fetcher.fetch(w)
        fetcher.close()
    assert drained == []
    partial = tmp_path / "cache" / "partial" / w.sha256
    assert 0 < partial.stat().st_size < w.file.size  # kept aside for the next run to resume
    assert not blob_path(tmp_path / "cache", w.sha256).exists()


def test_a_redirect_is_followed_and_a_login_does_not_follow_it_to_another_host(
    repo: Path, tmp_path: Path, upstream: Upstream
) -> None:
    """A repository manager or CDN may answer a download with a redirect; the file is at the end of it,
    and credentials for the first host are not sent to the second."""
    seen: list[tuple[str, str | None]] = []
    target = _one(repo, WHEEL).url.replace("127.0.0.1", "localhost")  # another host, same bytes

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization")))
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        w = _one(repo, WHEEL)
        url = f"http://bot:tok@127.0.0.1:{server.server_port}/files/{WHEEL}"
        w = dataclasses.replace(w, url=url)
        upstream.log.clear()
        upstream.auth_headers.clear()
        outcome = Fetcher(tmp_path / "cache", policy=FAST).fetch(w)
    finally:
        server.shutdown()
        server.server_close()
    assert outcome.status == "downloaded"
    assert hashlib.sha256(blob_path(tmp_path / "cache", w.sha256).read_bytes()).hexdigest() == w.sha256
    assert seen == [(f"/files/{WHEEL}", "Basic " + base64.b64encode(b"bot:tok").decode())]
    assert upstream.log == [("GET", f"/files/{WHEEL}")]
    assert all(h is None for h in upstream.auth_headers)


# -- the cache's bytes are verified on use; one download of a file at a time -------------------------------


def test_an_altered_cached_file_is_downloaded_again(repo: Path, tmp_path: Path, upstream: Upstream) -> None:
    """The right size but other bytes: before, fetch took it as "already there" (and build served it)."""
    cache = tmp_path / "cache"
    w = _one(repo, WHEEL)
    assert Fetcher(cache, policy=FAST).fetch(w).status == "downloaded"
    blob = blob_path(cache, w.sha256)
    good = blob.read_bytes()
    blob.write_bytes(b"\0" * len(good))
    out = io.StringIO()
    outcome = Fetcher(cache, policy=FAST, progress=Progress(stream=out, tty=False)).fetch(w)
    assert outcome.status == "downloaded"
    assert blob.read_bytes() == good
    assert (
        f"the cached copy of {WHEEL} is not the catalog's bytes (sha256 {w.sha256}): downloading it again"
        in (out.getvalue())
    )
    assert Fetcher(cache, policy=FAST).fetch(w).status == "cached"


def test_two_fetches_of_one_file_into_one_cache_download_it_once(
    repo: Path, tmp_path: Path, upstream: Upstream
) -> None:
    """Before: both wrote partial/<sha256> at once (and one could rename the other's half file)."""
    cache = tmp_path / "cache"
    w = _one(repo, WHEEL)
    upstream.fault(WHEEL, Fault("slow", delay=0.5))
    upstream.log.clear()
    outs = [io.StringIO(), io.StringIO()]
    results: list[str] = []

    def run(i: int) -> None:
        fetcher = Fetcher(cache, policy=FAST, progress=Progress(stream=outs[i], tty=False))
        results.append(fetcher.fetch(w).status)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    threads[0].start()
    for _ in range(500):  # the first one holds the file's lock
        if (cache / "partial" / f"{w.sha256}.lock").exists():
            break
        time.sleep(0.01)
    threads[1].start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["cached", "downloaded"]
    assert [p for m, p in upstream.log if p.endswith(WHEEL)] == [f"/files/{WHEEL}"]  # one download
    assert f"waiting for another curate fetch (pid {os.getpid()}) downloading {WHEEL} into this cache" in (
        outs[1].getvalue()
    )
    assert hashlib.sha256(blob_path(cache, w.sha256).read_bytes()).hexdigest() == w.sha256
    assert sorted(p.name for p in (cache / "partial").iterdir()) == []  # no lock file left behind
