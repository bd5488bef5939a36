"""The derived caches carried between publishes (curate.cacheseal, `curate ci seal-cache` /
`check-cache`): one archive under an HMAC, checked over the whole file before anything in it is read,
unpacked by curate itself (folders and regular files under the caches' folders only); a poisoned history
cache, which the build would otherwise show on the Changes pages, is never taken."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from curate import cacheseal, ci, environments, history, sbom, site
from curate.catalog import project_path
from curate.cli import main
from curate.errors import UsageError
from tests.test_history import api, build, commit, package, small_repo

KEY = b"k" * 32
OTHER = b"o" * 32
ROOT = Path(__file__).resolve().parent.parent


def tree(cache: Path) -> dict[str, bytes]:
    return {
        p.relative_to(cache).as_posix(): p.read_bytes()
        for p in sorted(cache.rglob("*"))
        if p.is_file() and p.parts[len(cache.parts)] in cacheseal.PARTS
    }


def fill(cache: Path) -> None:
    for part in cacheseal.PARTS:
        (cache / part / "ab").mkdir(parents=True)
        (cache / part / "ab" / "one.json").write_text(f'{{"part": "{part}"}}', "utf-8")
        (cache / part / "top").write_bytes(b"\x00" * 10)
    (cache / "sha256").mkdir()
    (cache / "sha256" / "blob").write_bytes(b"not a carried part")


def forge(body: bytes, key: bytes = OTHER) -> bytes:
    """A sealed file with ``body`` as its archive, sealed under ``key``."""
    mac = hmac.new(key, cacheseal.MAGIC + body, hashlib.sha256).hexdigest().encode()
    return cacheseal.MAGIC + mac + b"\n" + body


def tar_of(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return out.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def test_the_parts_are_the_caches_the_build_reads_and_the_workflow_carries_them() -> None:
    assert set(cacheseal.PARTS) == {
        history.CACHE_DIR,
        site.ARCHIVE_CACHE,
        sbom.STORE_DIR,
        environments.STORE_DIR,
    }
    workflow: Any = yaml.safe_load((ROOT / ".github" / "workflows" / "publish.yml").read_text("utf-8"))
    assert "actions/cache" not in json.dumps(workflow)  # every job of a run can write Actions' cache
    steps = workflow["jobs"]["build"]["steps"]
    ids = [s.get("id") for s in steps]
    order = ["wheels", "cache_fetch", "cache_check", "build", "cache_seal", "publish"]
    assert [i for i in ids if i in order] == order
    fetch = steps[ids.index("cache_fetch")]
    assert "curate-cache" in fetch["run"]
    assert "--status success" in fetch["run"]
    [upload] = [
        s
        for s in steps
        if "upload-artifact" in str(s.get("uses")) and s["with"]["name"] == cacheseal.ARTIFACT
    ]
    assert upload["continue-on-error"] is True  # a name taken first by another job: a cold build next time
    assert upload["if"] == "${{ !cancelled() && steps.cache_seal.outcome == 'success' }}"
    archive = {
        steps[ids.index(i)]["env"][ci.CACHE_ARCHIVE_VAR] for i in ("cache_fetch", "cache_check", "cache_seal")
    }
    assert archive == {upload["with"]["path"]}
    secret = "${{ secrets.CURATE_CACHE_KEY }}"
    holders = [
        (job, step.get("id"))
        for job, spec in workflow["jobs"].items()
        for step in spec.get("steps", [])
        if secret in json.dumps(step)
    ]
    assert holders == [("build", "cache_check"), ("build", "cache_seal")]  # no other step gets the key
    assert all(secret not in json.dumps(spec.get("env", {})) for spec in workflow["jobs"].values())
    assert workflow["jobs"]["build"]["permissions"] == {"contents": "read", "actions": "read"}


def test_a_sealed_cache_comes_back_whole_from_the_file_or_the_artifact_zip(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fill(cache)
    before = tree(cache)
    sealed = cacheseal.seal(cache, KEY, tmp_path / "out" / "curate-cache.sealed")
    assert (sealed.files, sealed.reason) == (2 * len(cacheseal.PARTS), "")
    again = cacheseal.seal(cache, KEY, tmp_path / "again.sealed")
    assert again.path.read_bytes() == sealed.path.read_bytes()  # the same caches, the same bytes
    fresh = tmp_path / "fresh"
    opened = cacheseal.open_sealed(fresh, KEY, sealed.path)
    assert (opened.files, opened.reason) == (8, "")
    assert tree(fresh) == before
    # GitHub serves an artifact as a zip of its one file; it is read in memory, not extracted
    artifact = tmp_path / "artifact.zip"
    with zipfile.ZipFile(artifact, "w") as z:
        z.write(sealed.path, "curate-cache.sealed")
    zipped = tmp_path / "from-zip"
    assert cacheseal.open_sealed(zipped, KEY, artifact).files == 8
    assert tree(zipped) == before


def test_opening_replaces_what_the_cache_held(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fill(cache)
    sealed = cacheseal.seal(cache, KEY, tmp_path / "s")
    (cache / "history" / "ab" / "one.json").write_text("planted", "utf-8")
    (cache / "sbom" / "new.json").write_text("planted", "utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x", "utf-8")
    (cache / "envs" / "link").symlink_to(outside, target_is_directory=True)
    cacheseal.open_sealed(cache, KEY, sealed.path)
    assert (cache / "history" / "ab" / "one.json").read_text("utf-8") == '{"part": "history"}'
    assert not (cache / "sbom" / "new.json").exists()
    assert not (cache / "envs" / "link").exists()
    assert (outside / "keep").is_file()  # a link is removed, never followed
    assert (cache / "sha256" / "blob").is_file()  # not a carried part: left alone


@pytest.mark.parametrize(
    ("what", "content", "reason"),
    [
        ("another key", lambda good: forge(good[good.index(b"\n") + 1 :]), "HMAC does not verify"),
        ("a changed byte", lambda good: good[:-1] + bytes([good[-1] ^ 1]), "HMAC does not verify"),
        ("no head", lambda good: good[good.index(b"\n") + 1 :], "not a sealed cache of this format"),
        ("a non-hex MAC", lambda good: cacheseal.MAGIC + "é".encode() * 32 + b"\n", "not a sealed cache"),
        ("not a file", None, "not a regular file"),
        ("a zip of two", "zip2", "a zip of 2 member(s)"),
        ("missing", "missing", "no previous publish left a sealed cache"),
    ],
)
def test_what_does_not_verify_is_not_taken(tmp_path: Path, what: str, content: Any, reason: str) -> None:
    cache = tmp_path / "cache"
    fill(cache)
    good = cacheseal.seal(cache, KEY, tmp_path / "good").path.read_bytes()
    archive = tmp_path / "archive"
    if content is None:
        archive.mkdir()
    elif content == "zip2":
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("a", good)
            z.writestr("b", good)
    elif content != "missing":
        archive.write_bytes(content(good))
    opened = cacheseal.open_sealed(cache, KEY, archive)
    assert reason in opened.reason, (what, opened.reason)
    assert opened.files == 0
    assert tree(cache) == {}  # what was there is gone too: nothing unsealed is read
    assert (cache / "sha256" / "blob").is_file()


@pytest.mark.parametrize(
    "member",
    [
        entry("history/../../escape"),
        entry("/tmp/absolute"),
        entry("elsewhere/file"),
        entry("history/link", tarfile.SYMTYPE, "/etc/passwd"),
        entry("history/hard", tarfile.LNKTYPE, "history/x"),
        entry("history/fifo", tarfile.FIFOTYPE),
        entry("history/dev", tarfile.CHRTYPE),
    ],
    ids=["dotdot", "absolute", "other-folder", "symlink", "hardlink", "fifo", "device"],
)
def test_a_sealed_archive_is_unpacked_only_into_the_caches(tmp_path: Path, member: tarfile.TarInfo) -> None:
    """Even under the right key (a seal is not trusted to be harmless): only folders and regular files
    under the caches' folders, else nothing."""
    body = tar_of((entry("history/ok"), b"fine"), (member, b"payload"))
    archive = tmp_path / "archive"
    archive.write_bytes(forge(body, KEY))
    cache = tmp_path / "deep" / "cache"
    opened = cacheseal.open_sealed(cache, KEY, archive)
    assert opened.reason == "archive holds entries outside curate's caches"
    assert not (cache / "history").exists()
    assert not (tmp_path / "escape").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists and writes any folder whatever its mode")
def test_folders_that_deny_listing_are_removed_all_the_same(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fill(cache)
    sealed = cacheseal.seal(cache, KEY, tmp_path / "s")
    hidden = cache / "history" / "hidden"
    hidden.mkdir()
    (hidden / "planted").write_text("x", "utf-8")
    hidden.chmod(0o300)  # write and traverse, no listing
    (cache / "sbom").chmod(0o500)  # no writing
    assert cacheseal.open_sealed(cache, KEY, sealed.path).files == 8
    assert not hidden.exists()


def test_two_entries_of_one_name_are_refused(tmp_path: Path) -> None:
    body = tar_of((entry("history/x"), b"first"), (entry("history/x"), b"second"))
    archive = tmp_path / "archive"
    archive.write_bytes(forge(body, KEY))
    opened = cacheseal.open_sealed(tmp_path / "cache", KEY, archive)
    assert opened.reason.startswith("archive does not unpack")
    assert not (tmp_path / "cache" / "history").exists()


def test_the_key_comes_from_the_environment_and_must_be_long(tmp_path: Path) -> None:
    assert cacheseal.key_from({}) is None
    assert cacheseal.key_from({cacheseal.KEY_VAR: "x" * 64}) == b"x" * 64
    with pytest.raises(UsageError, match="openssl rand -hex 32"):
        cacheseal.key_from({cacheseal.KEY_VAR: "short"})
    assert cacheseal.seal(tmp_path, None, tmp_path / "out").reason.startswith("$CURATE_CACHE_KEY is not set")
    assert not (tmp_path / "out").exists()
    fill(tmp_path / "cache")
    assert (
        cacheseal.open_sealed(tmp_path / "cache", None, tmp_path / "out").reason
        == "$CURATE_CACHE_KEY is not set"
    )
    assert tree(tmp_path / "cache") == {}


def test_a_poisoned_history_cache_is_never_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The threat, then the fix: a cached history entry with another commit subject is shown as it is
    when the cache is trusted; a sealed archive carrying it does not verify, and the entry is read from
    git again."""
    root = small_repo(tmp_path)
    project_path(root, "alpha").write_text(package("alpha", "1.0"), "utf-8")
    sha = commit(root, "alpha 1.0", "2026-01-01T00:00:00Z")
    out, cache = tmp_path / "public", tmp_path / "cache"
    build(root, out, cache)
    assert api(out)["changes"][0]["subject"] == "alpha 1.0"
    monkeypatch.setenv(cacheseal.KEY_VAR, KEY.decode())
    archive = tmp_path / "curate-cache.sealed"
    capsys.readouterr()
    assert (
        main(["-C", str(root), "ci", "seal-cache", "--archive", str(archive), "--cache-dir", str(cache)]) == 0
    )
    assert "sealed " in capsys.readouterr().out
    for path in (cache / history.CACHE_DIR).iterdir():  # what a hostile job could write
        path.write_bytes(path.read_bytes().replace(b'"alpha 1.0"', b'"all good, nothing to see"'))
    unchecked = tmp_path / "unchecked"
    build(root, unchecked, cache)
    assert (
        api(unchecked)["changes"][0]["subject"] == "all good, nothing to see"
    )  # a cache is trusted as it is
    # the same poison in the sealed archive: its HMAC no longer holds
    raw = archive.read_bytes()
    archive.write_bytes(raw.replace(b'"alpha 1.0"', b'"all good, nothing to see"'))
    assert archive.read_bytes() != raw
    next_run = tmp_path / "next-runner-cache"
    capsys.readouterr()
    assert (
        main(["-C", str(root), "ci", "check-cache", "--archive", str(archive), "--cache-dir", str(next_run)])
        == 0
    )
    assert "warning: no cache taken: curate-cache.sealed's HMAC does not verify" in capsys.readouterr().err
    text = build(root, tmp_path / "checked", next_run, capsys)
    assert "(1 read from git, 0 from the cache)" in text
    assert api(tmp_path / "checked")["changes"][0] == api(out)["changes"][0]
    assert api(out)["changes"][0]["commit"] == sha
    # the genuine archive is taken: the next build reads the history from it
    archive.write_bytes(raw)
    assert (
        main(["-C", str(root), "ci", "check-cache", "--archive", str(archive), "--cache-dir", str(next_run)])
        == 0
    )
    assert "took " in capsys.readouterr().out
    assert "(0 read from git, 1 from the cache)" in build(root, tmp_path / "warm", next_run, capsys)


def test_without_a_key_or_an_archive_the_build_runs_cold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = small_repo(tmp_path)
    cache = tmp_path / "cache"
    fill(cache)
    archive = tmp_path / "curate-cache.sealed"
    monkeypatch.delenv(cacheseal.KEY_VAR, raising=False)
    assert (
        main(["-C", str(root), "ci", "seal-cache", "--archive", str(archive), "--cache-dir", str(cache)]) == 0
    )
    assert "notice: $CURATE_CACHE_KEY is not set: nothing sealed" in capsys.readouterr().err
    assert not archive.exists()
    monkeypatch.setenv(cacheseal.KEY_VAR, KEY.decode())
    assert (
        main(["-C", str(root), "ci", "check-cache", "--archive", str(archive), "--cache-dir", str(cache)])
        == 0
    )
    err = capsys.readouterr().err
    assert "notice: no cache taken: no curate-cache.sealed: no previous publish left a sealed cache" in err
    assert "curate build computes everything (cold)" in err
    assert tree(cache) == {}
    monkeypatch.setenv(cacheseal.KEY_VAR, "too short")
    assert (
        main(["-C", str(root), "ci", "check-cache", "--archive", str(archive), "--cache-dir", str(cache)])
        == 2
    )
    assert "needs at least 32" in capsys.readouterr().err
