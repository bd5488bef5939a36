"""`curate publish` without servers: the config's publish targets, the pages target, the command's errors
(the s3 and repository targets run against real servers in test_publish_s3.py and
test_publish_repository.py)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from curate import publish as publishing
from curate.cli import main
from curate.config import load_config
from curate.errors import ValidationError
from tests.catalogs import make_repo


def _repo(tmp_path: Path, extra: str = "") -> Path:
    root = make_repo(tmp_path / "repo", extra_config=extra)
    (root / "public" / "simple").mkdir(parents=True)
    (root / "public" / "simple" / "index.html").write_text("<!DOCTYPE html>\n")
    (root / "public" / "index.html").write_text("<!DOCTYPE html><title>site</title>\n")
    return root


@pytest.mark.parametrize(
    ("extra", "targets"),
    [
        ("", ("pages",)),
        ("\npublish: {}\n", ()),
        ("\npublish:\n  pages: false\n  repository:\n    url: https://repo.example/x/\n", ("repository",)),
        (
            "\npublish:\n  pages: {}\n  s3:\n    bucket: packages-example\n    prefix: /catalog\n",
            ("pages", "s3"),
        ),
    ],
)
def test_publish_targets_in_the_config(tmp_path: Path, extra: str, targets: tuple[str, ...]) -> None:
    config = load_config(make_repo(tmp_path, extra_config=extra))
    assert config.publish.targets == targets
    if config.publish.s3 is not None:
        assert config.publish.s3.prefix == "catalog/"
        assert config.publish.s3.grace_period == dt.timedelta(days=7)
    if config.publish.repository is not None:
        assert config.publish.repository.index_url == "https://repo.example/x/simple/"


def test_publish_config_problems(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        extra_config="\npublish:\n  pagse: {}\n  s3:\n    bucket: Not_A_Bucket\n    grace_period: soon\n"
        "  repository:\n    url: ftp://repo.example/\n",
    )
    with pytest.raises(ValidationError) as caught:
        load_config(root)
    got = [(p.message, p.hint) for p in caught.value.problems]
    assert got == [
        ("unknown key 'pagse' in publish", "did you mean 'pages'?"),
        ("'Not_A_Bucket' is not a bucket name (3-63 lower-case letters, digits, '.', '-')", ""),
        ("grace_period 'soon' is not a duration", "write a number with d, h, m or s: 7d, 36h, 0s"),
        (
            "expected an http(s) URL, got 'ftp://repo.example/'",
            "e.g. https://repo.example/repository/pypi-hosted/",
        ),
    ]


def test_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    root = _repo(tmp_path)
    outputs = tmp_path / "github-output"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    assert main(["-C", str(root), "publish"]) == 0
    out, err = capsys.readouterr()
    assert (
        out
        == "pages: 2 file(s), 51 B, ready for GitHub Pages at http://127.0.0.1:8000/ (the Publish workflow deploys it)\n"
    )
    assert "GitHub Pages sites are public" in err
    assert outputs.read_text() == "pages=true\n"
    assert main(["-C", str(root), "publish", "--dry-run"]) == 0  # a dry run tells the workflow nothing
    assert outputs.read_text() == "pages=true\n"

    monkeypatch.setattr(publishing, "PAGES_LIMIT", 10)
    assert main(["-C", str(root), "publish"]) == 1
    assert "GitHub Pages publishes at most 1 GB" in capsys.readouterr().err


def test_pages_warns_about_requesters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _repo(tmp_path)
    config = root / "catalog" / "config.yaml"
    config.write_text(config.read_text().replace("show_requesters: false", "show_requesters: true"))
    assert main(["-C", str(root), "publish"]) == 0
    assert (
        "site.show_requesters is true: every requester's address is on the public site"
        in capsys.readouterr().err
    )


def test_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _repo(tmp_path, "\npublish: {}\n")
    assert main(["-C", str(root), "publish"]) == 2
    assert "'publish' names no target" in capsys.readouterr().err
    root = _repo(tmp_path / "b")
    assert main(["-C", str(root), "publish", "--target", "s3"]) == 2
    assert "publish.s3 is not configured; the config names: pages" in capsys.readouterr().err
    assert main(["-C", str(root), "publish", "--tree", str(tmp_path / "nothing")]) == 2
    assert "no built index here (no simple/index.html); run: curate build" in capsys.readouterr().err


def test_publish_and_build_take_turns_on_one_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build swapping a new tree in while a publish uploads the old one would have objects planned
    from one tree uploaded from the other: publish holds the build's lock on the tree."""
    import subprocess
    import sys
    import textwrap

    from curate.exclusive import Busy, holder
    from curate.staging import build_lock, lock_path

    root = _repo(tmp_path)
    public = root / "public"
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from curate.staging import build_lock
        with build_lock(Path({str(public)!r})):
            print("held", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        assert main(["-C", str(root), "publish"]) == 1
    finally:
        proc.kill()
        proc.communicate()
    assert (
        f"another curate build is running (pid {proc.pid}); wait for it to finish" in capsys.readouterr().err
    )

    seen: list[object] = []

    def pages(tree: Path, *args: object, **kwargs: object) -> publishing.TargetResult:
        seen.append(holder(lock_path(tree)))
        # a build started now stops at once, naming the publish
        with pytest.raises(Busy) as busy, build_lock(tree):
            pass
        seen.append(str(busy.value).split(": ", 1)[1].split(";")[0])
        return publishing.TargetResult(target="pages", where="", dry_run=False)

    monkeypatch.setattr(publishing, "publish_pages", pages)
    assert main(["-C", str(root), "publish", "-q"]) == 0
    assert seen == [
        (os.getpid(), "curate publish"),
        f"another curate publish is running (pid {os.getpid()})",
    ]
    assert not lock_path(public).exists()  # let go, and nothing left beside the tree


class MemoryBucket:
    """A bucket in a dict, for what the bucket does not decide (moto is the bucket elsewhere)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.puts: list[str] = []

    def where(self, key: str = "") -> str:
        return f"mem://{key}"

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def put(self, key: str, *, path: Path | None = None, data: bytes | None = None, **_: object) -> None:
        self.data[key] = data if data is not None else (path.read_bytes() if path else b"")
        self.puts.append(key)

    def delete(self, keys: object) -> None:
        raise AssertionError("nothing is deleted here")


def test_headers_are_compared_only_under_other_rules(tmp_path: Path) -> None:
    import gzip
    import json

    from curate.config import S3Target

    root = _repo(tmp_path)
    bucket = MemoryBucket()

    def run() -> tuple[str, ...]:
        result = publishing.publish_s3(
            root / "public",
            S3Target(bucket="mem-bucket"),
            env={},
            hashes=publishing.HashCache(None),
            store=lambda *_: bucket,
        )
        return result.uploaded

    assert set(run()) == {"simple/index.html", "simple/", "index.html"}
    manifest = json.loads(gzip.decompress(bucket.data[publishing.MANIFEST_KEY]))
    assert manifest["header_rules"] == publishing.HEADER_RULES
    manifest["objects"]["index.html"][2] = "text/plain"  # as if written by rules that typed it so
    bucket.data[publishing.MANIFEST_KEY] = gzip.compress(json.dumps(manifest).encode())
    assert run() == ()  # same rules: the headers follow from the key, only bytes are compared
    manifest["header_rules"] = 0
    bucket.data[publishing.MANIFEST_KEY] = gzip.compress(json.dumps(manifest).encode())
    assert run() == ("index.html",)  # other rules: the object goes up again with today's headers
    bucket.data[publishing.MANIFEST_KEY] = b"not gzip"
    with pytest.raises(publishing.PublishError, match="the publish manifest does not read"):
        run()
