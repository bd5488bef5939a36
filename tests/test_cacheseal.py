"""Sealed caches (curate.cacheseal, `curate ci seal-cache` / `check-cache`): publish.yml's build job reads
back only what its last successful build sealed; a poisoned history cache (which the build would
otherwise show on the Changes pages) is removed and computed again from git."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from curate import cacheseal, environments, history, sbom, site
from curate.catalog import project_path
from curate.cli import main
from curate.errors import UsageError
from tests.test_history import GIT_ENV, api, build, commit, package, small_repo

KEY = b"k" * 32
OTHER = b"o" * 32
ROOT = Path(__file__).resolve().parent.parent


def tree(cache: Path) -> dict[str, bytes]:
    return {
        p.relative_to(cache).as_posix(): p.read_bytes()
        for p in sorted(cache.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.name != cacheseal.SEAL_FILE
    }


def fill(cache: Path) -> None:
    for part in cacheseal.PARTS:
        (cache / part / "ab").mkdir(parents=True)
        (cache / part / "ab" / "one.json").write_text(f'{{"part": "{part}"}}', "utf-8")
        (cache / part / "top").write_bytes(b"\x00" * 10)
    (cache / "sha256").mkdir()
    (cache / "sha256" / "blob").write_bytes(b"not a sealed part")


def test_the_parts_are_the_caches_publish_restores() -> None:
    assert set(cacheseal.PARTS) == {
        history.CACHE_DIR,
        site.ARCHIVE_CACHE,
        sbom.STORE_DIR,
        environments.STORE_DIR,
    }
    workflow: Any = yaml.safe_load((ROOT / ".github" / "workflows" / "publish.yml").read_text("utf-8"))
    steps = workflow["jobs"]["build"]["steps"]
    [restore] = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache@")]
    paths = restore["with"]["path"].split()
    assert paths == [f"~/.cache/curate/{p}" for p in (*cacheseal.PARTS, cacheseal.SEAL_FILE)]
    ids = [s.get("id") for s in steps]
    assert ids.index("cache_check") == ids.index(None, ids.index("wheels")) + 1  # right after the restore
    assert ids.index("cache_check") < ids.index("build") < ids.index("cache_seal") < ids.index("publish")
    secret = "${{ secrets.CURATE_CACHE_KEY }}"
    holders = [
        (job, step.get("id"))
        for job, spec in workflow["jobs"].items()
        for step in spec.get("steps", [])
        if secret in json.dumps(step)
    ]
    assert holders == [("build", "cache_check"), ("build", "cache_seal")]  # no other step gets the key
    assert all(secret not in json.dumps(spec.get("env", {})) for spec in workflow["jobs"].values())


def test_a_sealed_cache_is_kept_whole(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fill(cache)
    before = tree(cache)
    sealed = cacheseal.seal(cache, KEY)
    assert (sealed.files, sealed.path) == (2 * len(cacheseal.PARTS), cache / cacheseal.SEAL_FILE)
    checked = cacheseal.check(cache, KEY)
    assert (checked.kept, checked.removed, checked.reason) == (8, (), "")
    assert tree(cache) == before
    assert not (cache / cacheseal.SEAL_FILE).exists()  # used once: the next build seals again


def test_changed_added_and_linked_files_are_removed(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fill(cache)
    outside = tmp_path / "outside.txt"
    outside.write_text("the runner's own file", "utf-8")
    cacheseal.seal(cache, KEY)
    (cache / "history" / "ab" / "one.json").write_text('{"part": "poisoned"}', "utf-8")
    (cache / "sbom" / "new.json").write_text("{}", "utf-8")
    (cache / "envs" / "link").symlink_to(outside)
    (cache / "envs" / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(cache / "history-pages" / "fifo")
    checked = cacheseal.check(cache, KEY)
    assert checked.reason == ""
    assert sorted(checked.removed) == [
        "envs/dirlink",
        "envs/link",
        "history-pages/fifo",
        "history/ab/one.json",
        "sbom/new.json",
    ]
    assert checked.kept == 7
    assert outside.read_text("utf-8") == "the runner's own file"  # links are removed, never followed
    assert (cache / "sha256" / "blob").is_file()  # not a sealed part: not curate.cacheseal's to judge


def test_a_part_that_is_a_link_goes(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fill(cache)
    cacheseal.seal(cache, KEY)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("x", "utf-8")
    (cache / "sbom" / "ab" / "one.json").unlink()
    (cache / "sbom" / "ab").rmdir()
    (cache / "sbom" / "top").unlink()
    (cache / "sbom").rmdir()
    (cache / "sbom").symlink_to(elsewhere, target_is_directory=True)
    checked = cacheseal.check(cache, KEY)
    assert "sbom" in checked.removed
    assert not (cache / "sbom").exists()
    assert (elsewhere / "keep").is_file()


@pytest.mark.parametrize(
    "forge",
    [
        "other key",
        "no seal",
        "not json",
        "listed with another hash",
        "a link",
        "no key",
    ],
)
def test_an_untrusted_seal_keeps_nothing(tmp_path: Path, forge: str) -> None:
    cache = tmp_path / "cache"
    fill(cache)
    seal = cache / cacheseal.SEAL_FILE
    cacheseal.seal(cache, OTHER if forge == "other key" else KEY)
    key: bytes | None = KEY
    if forge == "no seal":
        seal.unlink()
    elif forge == "not json":
        seal.write_text("{", "utf-8")
    elif forge == "listed with another hash":  # the list changed, the MAC kept
        doc = json.loads(seal.read_text("utf-8"))
        doc["files"]["history/ab/one.json"] = hashlib.sha256(b"forged").hexdigest()
        seal.write_text(json.dumps(doc), "utf-8")
    elif forge == "a link":
        real = tmp_path / "real-seal.json"
        seal.rename(real)
        seal.symlink_to(real)
    elif forge == "no key":
        key = None
    checked = cacheseal.check(cache, key)
    assert checked.reason
    assert checked.kept == 0
    assert sorted(checked.removed) == sorted(f"{p}/" for p in cacheseal.PARTS)
    assert all(not (cache / p).exists() for p in cacheseal.PARTS)
    assert (cache / "sha256" / "blob").is_file()


def test_the_key_comes_from_the_environment_and_must_be_long() -> None:
    assert cacheseal.key_from({}) is None
    assert cacheseal.key_from({cacheseal.KEY_VAR: "x" * 64}) == b"x" * 64
    with pytest.raises(UsageError, match="openssl rand -hex 32"):
        cacheseal.key_from({cacheseal.KEY_VAR: "short"})
    assert cacheseal.seal(Path("/nonexistent"), None).reason.startswith("$CURATE_CACHE_KEY is not set")


def test_a_poisoned_history_cache_is_computed_again_from_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The threat, then the fix: a cached history entry with another commit subject is shown as it is
    when the cache is trusted; after check-cache it is gone and the entry is read from git again."""
    root = small_repo(tmp_path)
    project_path(root, "alpha").write_text(package("alpha", "1.0"), "utf-8")
    sha = commit(root, "alpha 1.0", "2026-01-01T00:00:00Z")
    out, cache = tmp_path / "public", tmp_path / "cache"
    build(root, out, cache)
    assert api(out)["changes"][0]["subject"] == "alpha 1.0"
    monkeypatch.setenv(cacheseal.KEY_VAR, KEY.decode())
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", GIT_ENV["GIT_CONFIG_GLOBAL"])
    capsys.readouterr()
    assert main(["-C", str(root), "ci", "seal-cache", "--cache-dir", str(cache)]) == 0
    assert "sealed " in capsys.readouterr().out
    for path in (cache / history.CACHE_DIR).iterdir():  # what a hostile job of the run could write
        path.write_bytes(path.read_bytes().replace(b'"alpha 1.0"', b'"all good, nothing to see"'))
    unchecked = tmp_path / "unchecked"
    build(root, unchecked, cache)
    assert api(unchecked)["changes"][0]["subject"] == "all good, nothing to see"  # trusted as it is

    capsys.readouterr()
    assert main(["-C", str(root), "ci", "check-cache", "--cache-dir", str(cache)]) == 0
    said = capsys.readouterr()
    assert "kept " in said.out
    assert "removed (not as sealed): history/" in said.err
    text = build(root, tmp_path / "checked", cache, capsys)
    assert "(1 read from git, 0 from the cache)" in text
    assert api(tmp_path / "checked")["changes"][0] == api(out)["changes"][0]
    assert api(out)["changes"][0]["commit"] == sha


def test_check_cache_without_a_key_says_the_build_runs_cold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = small_repo(tmp_path)
    cache = tmp_path / "cache"
    fill(cache)
    monkeypatch.delenv(cacheseal.KEY_VAR, raising=False)
    assert main(["-C", str(root), "ci", "seal-cache", "--cache-dir", str(cache)]) == 0
    assert "notice: $CURATE_CACHE_KEY is not set: nothing sealed" in capsys.readouterr().err
    assert main(["-C", str(root), "ci", "check-cache", "--cache-dir", str(tmp_path / "none")]) == 0
    assert "no cache was restored" in capsys.readouterr().out
    assert main(["-C", str(root), "ci", "check-cache", "--cache-dir", str(cache)]) == 0
    err = capsys.readouterr().err
    assert "notice: nothing restored is trusted: $CURATE_CACHE_KEY is not set" in err
    assert "curate build computes them again" in err
    assert all(not (cache / p).exists() for p in cacheseal.PARTS)
    monkeypatch.setenv(cacheseal.KEY_VAR, "too short")
    assert main(["-C", str(root), "ci", "check-cache", "--cache-dir", str(cache)]) == 2
    assert "needs at least 32" in capsys.readouterr().err
