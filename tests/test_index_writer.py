"""Writing a fresh tree: in this process or by the write-behind helper, the same files and bytes."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from curate.build import catalog_sources
from curate.cache import cache_root
from curate.config import load_config
from curate.index import Blobs, build_index
from curate.staging import Staging, WriteBehind
from tests.test_index_helpers import Built, make_built


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return make_built(tmp_path_factory.mktemp("writer"))


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mode)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _build(built: Built, out: Path, *, write_behind: bool, previous: Path | None = None) -> None:
    config = load_config(built.root)
    blobs = Blobs(cache_root(built.root, config, {}, built.cache))
    out.mkdir()
    build_index(
        out,
        catalog_sources(built.root),
        config=config,
        blobs=blobs,
        previous=previous,
        write_behind=write_behind,
    )


@pytest.mark.parametrize("reuse", [False, True], ids=["rendered", "linked-from-live"])
def test_write_behind_writes_the_same_files_and_bytes(built: Built, tmp_path: Path, reuse: bool) -> None:
    previous = built.public if reuse else None
    _build(built, tmp_path / "here", write_behind=False, previous=previous)
    _build(built, tmp_path / "behind", write_behind=True, previous=previous)
    here, behind = _tree(tmp_path / "here"), _tree(tmp_path / "behind")
    assert sorted(here) == sorted(behind)
    assert here == behind
    assert any(rel.endswith(".metadata") for rel in behind)  # mirror mode: links and METADATA too
    wheel = next(rel for rel in behind if rel.startswith("files/") and rel.endswith(".whl"))
    assert (tmp_path / "behind" / wheel).stat().st_nlink > 1  # hard-linked, not copied


@pytest.mark.parametrize("sink", [Staging, WriteBehind])
def test_a_failed_write_raises_the_os_error_it_would_here(tmp_path: Path, sink: type[Staging]) -> None:
    (tmp_path / "simple").write_text("a file where a directory should be")
    staging = sink(tmp_path)
    staging.write("api/x.json", b"{}\n")

    def write_and_close() -> None:
        staging.write("simple/x/index.html", b"<!DOCTYPE html>\n")  # the helper fails later, on close
        staging.close()

    with pytest.raises(NotADirectoryError, match="Not a directory") as caught:
        write_and_close()
    staging.abort()
    assert caught.value.errno == errno.ENOTDIR
    assert caught.value.filename == f"{tmp_path}/simple/x"
    assert (tmp_path / "api" / "x.json").read_bytes() == b"{}\n"


def test_link_if_same_links_only_the_same_bytes_of_a_regular_file(tmp_path: Path) -> None:
    """curate.staging.link_if_same: a new file that is a live file's bytes is that file, hard-linked
    (its inode kept); other bytes, another size, a symbolic link, a FIFO or a missing file are not
    linked (the caller writes its file), and nothing is ever written through to the live file."""
    import os

    from curate.staging import link_if_same

    live, new = tmp_path / "live", tmp_path / "new"
    live.mkdir()
    new.mkdir()
    page = b"<html>the same page</html>\n"
    (live / "same.html").write_bytes(page)
    assert link_if_same(str(live / "same.html"), str(new / "same.html"), page)
    assert (new / "same.html").stat().st_ino == (live / "same.html").stat().st_ino
    (live / "other.html").write_bytes(page.replace(b"same", b"sane"))  # same size, other bytes
    (live / "longer.html").write_bytes(page + b"\n")
    secret = tmp_path / "secret"
    secret.write_bytes(page)
    (live / "link.html").symlink_to(secret)
    os.mkfifo(live / "fifo.html")
    for name in ("other.html", "longer.html", "link.html", "fifo.html", "missing.html"):
        assert not link_if_same(str(live / name), str(new / name), page), name
        assert not (new / name).exists(), name
    assert (live / "other.html").read_bytes() == page.replace(b"same", b"sane")
    assert secret.read_bytes() == page


def test_keep_unchanged_links_the_same_bytes_but_in_the_folders_done(tmp_path: Path) -> None:
    """curate.staging.keep_unchanged: a file of the staging tree that is the live one's bytes becomes the
    live file (its inode); the folders named ``done`` (their writer kept them: Staging.write_or_keep) are
    not looked at; Staging.write_or_keep links the live file where it is the same bytes."""
    from curate.staging import Staging, keep_unchanged

    live, staging = tmp_path / "live", tmp_path / "staging"
    for tree in (live, staging):
        for rel in ("a.html", "envs/x/pylock.toml", "requests/r1/index.html", "requests/index.html"):
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            (tree / rel).write_bytes(b"same " + rel.encode())
    assert keep_unchanged(staging, live, done=("envs", "requests/r1")) == 2

    def same(rel: str) -> bool:
        return (staging / rel).stat().st_ino == (live / rel).stat().st_ino

    assert same("a.html")
    assert same("requests/index.html")
    assert not same("envs/x/pylock.toml")
    assert not same("requests/r1/index.html")
    writer = Staging(staging)
    (staging / "envs" / "x" / "pylock.toml").unlink()
    writer.write_or_keep("envs/x/pylock.toml", b"same envs/x/pylock.toml", live)
    assert same("envs/x/pylock.toml")
    writer.write_or_keep("envs/y/pylock.toml", b"new", live)
    assert (staging / "envs" / "y" / "pylock.toml").read_bytes() == b"new"
