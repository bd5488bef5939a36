"""curate.reuse.LinkReuse: files a published build wrote from the same key are hard-linked, not made again;
only from the folder the record was written about, and (verified) only with the bytes it recorded."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from curate import reuse as reuse_module
from curate.reuse import LinkReuse


def publish(tmp: Path, files: dict[str, tuple[str, bytes]], *, verify: bool, name: str) -> Path:
    """A build's folder ``name`` written through a LinkReuse keyed by the previous one, then "published"
    (renamed to ``live``, as the staging tree is swapped in)."""
    live, out = tmp / "live", tmp / name
    out.mkdir()
    reuse = LinkReuse(tmp / "cache" / "record.json", live if live.exists() else None, out, verify=verify)
    for rel, (key, data) in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        reuse.write(rel, key, functools.partial(bytes, data))
    reuse.save()
    if live.exists():
        os.rename(live, tmp / f"old-{name}")
    os.rename(out, live)
    return live


def recorder() -> tuple[list[str], Callable[[str, bytes], bytes]]:
    """A ``make`` for :meth:`LinkReuse.write` (bound with functools.partial): it returns the data, and
    the list it returns says which files were made, in order."""
    made: list[str] = []

    def make(name: str, data: bytes) -> bytes:
        made.append(name)
        return data

    return made, make


@pytest.mark.parametrize("verify", [True, False])
def test_an_unchanged_file_is_linked_and_a_changed_key_is_made_again(tmp_path: Path, verify: bool) -> None:
    files = {"a.json": ("key a", b"A"), "b.json": ("key b", b"B")}
    live = publish(tmp_path, files, verify=verify, name="one")
    inodes = {rel: (live / rel).stat().st_ino for rel in files}
    out = tmp_path / "two"
    out.mkdir()
    reuse = LinkReuse(tmp_path / "cache" / "record.json", live, out, verify=verify)
    made, make = recorder()
    reuse.write("a.json", "key a", functools.partial(make, "a", b"A"))
    reuse.write("b.json", "key b, changed", functools.partial(make, "b", b"B2"))
    assert made == ["b"]
    assert (out / "a.json").stat().st_ino == inodes["a.json"]  # the published file itself
    assert (out / "b.json").read_bytes() == b"B2"
    assert (out / "b.json").stat().st_ino != inodes["b.json"]
    assert reuse.linked == 1


def test_a_changed_published_file_is_not_reused_nor_written_through(tmp_path: Path) -> None:
    """Verified: the linked file's sha256 is the one recorded when it was written; a file changed since
    (same size, its modification time put back) is unlinked and made again, and the live file is left as
    it is (the new one is another inode)."""
    live = publish(
        tmp_path, {"a.json": ("key a", b"AAAA"), "b.json": ("key b", b"BBBB")}, verify=True, name="one"
    )
    st = (live / "a.json").stat()
    with open(live / "a.json", "r+b") as fh:
        fh.write(b"EVIL")
    os.utime(live / "a.json", ns=(st.st_atime_ns, st.st_mtime_ns))
    out = tmp_path / "two"
    out.mkdir()
    reuse = LinkReuse(tmp_path / "cache" / "record.json", live, out, verify=True)
    reuse.write("a.json", "key a", lambda: b"AAAA")
    reuse.write("b.json", "key b", lambda: pytest.fail("made again"))
    assert (out / "a.json").read_bytes() == b"AAAA"
    assert (out / "a.json").stat().st_ino != st.st_ino
    assert (live / "a.json").read_bytes() == b"EVIL"  # not written through the link
    assert reuse.linked == 1
    reuse.save()
    record = json.loads((tmp_path / "cache" / "record.json").read_bytes())
    assert set(record["files"]) == {"a.json", "b.json"}


def test_the_record_is_only_about_the_folder_it_was_written_for(tmp_path: Path) -> None:
    """Another folder (a build that was not published; a copy; a cache restored elsewhere), a damaged
    record, a record of unverified files when verifying: nothing is linked."""
    live = publish(tmp_path, {"a.json": ("key a", b"A")}, verify=True, name="one")
    record = tmp_path / "cache" / "record.json"
    copy = tmp_path / "copy"
    copy.mkdir()
    os.link(live / "a.json", copy / "a.json")

    def linked(folder: Path, *, verify: bool = True) -> int:
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        (out / "a.json").unlink(missing_ok=True)
        reuse = LinkReuse(record, folder, out, verify=verify)
        reuse.write("a.json", "key a", lambda: b"A")
        assert (out / "a.json").read_bytes() == b"A"
        return reuse.linked

    assert linked(live) == 1
    assert linked(copy) == 0  # another folder's identity
    good = record.read_bytes()
    record.write_text("{not json", "utf-8")
    assert linked(live) == 0
    data = json.loads(good)
    data["files"]["a.json"][1] = ""  # written without its sha256: not trusted when verifying
    record.write_text(json.dumps(data), "utf-8")
    assert linked(live) == 0
    assert linked(live, verify=False) == 1
    record.unlink()
    assert linked(live) == 0
    nothing = LinkReuse(None, live, tmp_path / "out", verify=True)  # no file cache: nothing to trust
    assert not nothing.reused("a.json", "key a")


def test_api_changes_records_and_json_documents(tmp_path: Path) -> None:
    """The history's ``api/changes/`` (curate.site.write_history): documents written through ``encode``,
    unverified; a record in the format written before LinkReuse (a digest per file) is still read."""
    live = tmp_path / "live"
    live.mkdir()
    (live / "1.json").write_bytes(b'{"page":1}')
    record = tmp_path / "record.json"
    st = live.stat()
    digest = hashlib.sha256(b"key 1").hexdigest()[:32]
    record.write_text(json.dumps({"folder": [st.st_dev, st.st_ino], "files": {"1.json": digest}}), "utf-8")
    out = tmp_path / "out"
    out.mkdir()
    reuse = LinkReuse(record, live, out, encode=lambda doc: json.dumps(doc).encode())
    reuse.write("1.json", "key 1", lambda: pytest.fail("made again"))
    reuse.write("2.json", "key 2", lambda: {"page": 2})
    assert (out / "1.json").stat().st_ino == (live / "1.json").stat().st_ino
    assert json.loads((out / "2.json").read_bytes()) == {"page": 2}
    with pytest.raises(TypeError, match="not bytes"):
        LinkReuse(None, None, out).write("3.json", "key 3", lambda: {"page": 3})
    reuse.save()
    assert json.loads(record.read_bytes())["files"]["1.json"] == [digest, ""]


def test_a_published_file_made_a_link_or_a_fifo_is_not_reused(tmp_path: Path) -> None:
    """A published file replaced by a symbolic link (to a secret of the build's user) or a FIFO is not
    linked into the new tree (a hard link to a symlink would publish what it points to) nor waited on:
    it is made again, verified or not."""
    secret = tmp_path / "secret"
    secret.write_bytes(b"the build user's key")
    for verify in (True, False):
        base = tmp_path / f"verify-{verify}"
        base.mkdir()
        live = publish(
            base, {"a.json": ("key a", b"A"), "b.json": ("key b", b"B")}, verify=verify, name="one"
        )
        (live / "a.json").unlink()
        (live / "a.json").symlink_to(secret)
        (live / "b.json").unlink()
        os.mkfifo(live / "b.json")
        out = base / "two"
        out.mkdir()
        reuse = LinkReuse(base / "cache" / "record.json", live, out, verify=verify)
        reuse.write("a.json", "key a", lambda: b"A")
        reuse.write("b.json", "key b", lambda: b"B")
        assert (out / "a.json").read_bytes() == b"A"
        assert not (out / "a.json").is_symlink()
        assert (out / "b.json").read_bytes() == b"B"
        assert reuse.linked == 0


def test_a_spare_folder_is_taken_over_keeping_only_the_live_files(tmp_path: Path) -> None:
    """``spare``: the folder the last build replaced becomes ``out``; a file of it is kept only where it
    is the live file that would be linked (its bytes checked); a link of it to a live file whose key
    changed is removed before the new file is written (never written through); symbolic links, FIFOs and
    files the build does not write are removed, and the folders left empty."""
    files = {"a/x.json": ("key a", b"AAAA"), "b/y.json": ("key b", b"BBBB"), "c/z.json": ("key c", b"CCCC")}
    live = publish(tmp_path, files, verify=True, name="one")
    spare = tmp_path / "spare"
    for rel in files:
        (spare / rel).parent.mkdir(parents=True, exist_ok=True)
        os.link(live / rel, spare / rel)
    (spare / "c" / "z.json").unlink()
    (spare / "c" / "z.json").write_bytes(b"CCCC")  # the same bytes, another file
    secret, outside = tmp_path / "secret", tmp_path / "outside"
    secret.write_bytes(b"secret")
    outside.mkdir()
    (spare / "d").mkdir()
    (spare / "d" / "w.json").symlink_to(secret)
    (spare / "e").symlink_to(outside, target_is_directory=True)
    os.mkfifo(spare / "f.json")
    (spare / "gone").mkdir()
    (spare / "gone" / "stale.json").write_bytes(b"old")
    out = tmp_path / "two"
    reuse = LinkReuse(tmp_path / "cache" / "record.json", live, out, verify=True, spare=spare)
    assert not spare.exists()
    reuse.write("a/x.json", "key a", lambda: pytest.fail("made again"))
    reuse.write("b/y.json", "key b, changed", lambda: b"B2")
    reuse.write("c/z.json", "key c", lambda: pytest.fail("made again"))
    reuse.write("d/w.json", "key d", lambda: b"D")
    reuse.save()
    for rel in ("a/x.json", "c/z.json"):
        assert (out / rel).stat().st_ino == (live / rel).stat().st_ino, rel
    assert (out / "b" / "y.json").read_bytes() == b"B2"
    assert (live / "b" / "y.json").read_bytes() == b"BBBB"  # not written through the spare's link
    assert (out / "b" / "y.json").stat().st_ino != (live / "b" / "y.json").stat().st_ino
    assert (out / "d" / "w.json").read_bytes() == b"D"
    assert not (out / "d" / "w.json").is_symlink()
    assert secret.read_bytes() == b"secret"
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "c", "d"]
    assert not list(outside.iterdir())
    assert reuse.linked == 2

    # a spare that is a symbolic link (to a folder elsewhere) is not taken over, nor anything in it
    (outside / "x.json").write_bytes(b"outside")
    link = tmp_path / "spare-link"
    link.symlink_to(outside, target_is_directory=True)
    out3 = tmp_path / "three"
    LinkReuse(tmp_path / "cache" / "record.json", live, out3, verify=True, spare=link).save()
    assert not out3.exists()
    assert not out3.is_symlink()
    assert (outside / "x.json").read_bytes() == b"outside"


def _others(path: Path, how: str) -> None:
    """``path`` made another user's (uid 65534: only root can) or writable by all."""
    if how == "other user":
        if os.geteuid() != 0:
            pytest.skip("only root can give a file to another user")
        os.chown(path, 65534, -1, follow_symlinks=False)
    else:
        path.chmod(path.stat().st_mode | 0o002)


@pytest.mark.parametrize("how", ["other user", "writable by all"])
def test_a_file_or_spare_folder_not_the_builds_own_is_not_reused(tmp_path: Path, how: str) -> None:
    """A live file that another user owns, or that anyone can write to, could be changed in place once
    published through a hard link: it is made again. A spare folder with
    such a folder in it is not taken over at all (out made afresh, nothing kept from it)."""
    files = {"a/x.json": ("key a", b"AAAA"), "b/y.json": ("key b", b"BBBB")}
    live = publish(tmp_path, files, verify=True, name="one")
    _others(live / "a" / "x.json", how)
    out = tmp_path / "two"
    out.mkdir()
    reuse = LinkReuse(tmp_path / "cache" / "record.json", live, out, verify=True)
    made, make = recorder()
    for rel, (key, data) in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        reuse.write(rel, key, functools.partial(make, rel, data))
    assert made == ["a/x.json"]
    assert (out / "a" / "x.json").stat().st_ino != (live / "a" / "x.json").stat().st_ino
    assert (out / "b" / "y.json").stat().st_ino == (live / "b" / "y.json").stat().st_ino

    # the spare folder: its folder "b" is not the build's own -> nothing of the spare is kept
    live = publish(tmp_path, files, verify=True, name="three")
    spare = tmp_path / "spare"
    for rel in files:
        (spare / rel).parent.mkdir(parents=True, exist_ok=True)
        os.link(live / rel, spare / rel)
    _others(spare / "b", how)
    out = tmp_path / "four"
    reuse = LinkReuse(tmp_path / "cache" / "record.json", live, out, verify=True, spare=spare)
    assert not spare.exists()
    assert not out.exists()  # made afresh by the writer, as on a first build
    assert not reuse.present
    out.mkdir()
    for rel, (key, data) in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        reuse.write(rel, key, functools.partial(bytes, data))
    reuse.save()
    assert not (out / "b").stat().st_mode & 0o002
    assert (out / "b").stat().st_uid == os.geteuid()


@pytest.mark.parametrize("how", ["other user", "writable by all", "a symbolic link"])
def test_a_record_not_the_builds_own_is_not_trusted(tmp_path: Path, how: str) -> None:
    """A record another user could write (in a shared file cache) could name a stale file's sha256 for
    a new key: it is not read, and every file is made again."""
    files = {"a/x.json": ("key a", b"AAAA")}
    live = publish(tmp_path, files, verify=True, name="one")
    record = tmp_path / "cache" / "record.json"
    if how == "a symbolic link":
        record.rename(tmp_path / "elsewhere.json")
        record.symlink_to(tmp_path / "elsewhere.json")
    else:
        _others(record, how)
    out = tmp_path / "two"
    (out / "a").mkdir(parents=True)
    reuse = LinkReuse(record, live, out, verify=True)
    assert reuse.before == {}
    made, make = recorder()
    reuse.write("a/x.json", "key a", functools.partial(make, "a/x.json", b"AAAA"))
    assert made == ["a/x.json"]


@pytest.mark.parametrize("how", ["other user", "writable by all"])
def test_link_if_same_and_keep_unchanged_leave_a_file_not_the_builds_own(tmp_path: Path, how: str) -> None:
    """curate.staging: a live file of the same bytes that another user owns, or anyone can write to,
    is not linked into the new tree (it could be changed in place once published)."""
    from curate.staging import keep_unchanged, link_if_same

    live, new = tmp_path / "live", tmp_path / "new"
    live.mkdir()
    new.mkdir()
    page = b"<html>a page</html>\n"
    for name in ("linked.html", "kept.html"):
        (live / name).write_bytes(page)
        _others(live / name, how)
    assert not link_if_same(str(live / "linked.html"), str(new / "linked.html"), page)
    assert not (new / "linked.html").exists()
    (new / "kept.html").write_bytes(page)
    assert keep_unchanged(new, live) == 0
    assert (new / "kept.html").stat().st_ino != (live / "kept.html").stat().st_ino


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 100])
@pytest.mark.parametrize("grew", [0, 5])
def test_the_sha256_read_back_covers_every_byte_to_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, grew: int
) -> None:
    """What a verified link is checked with: the sha256 of every byte of the file, read to its end,
    in one read or many (8 bytes at most here), also when it holds more than its size said."""
    monkeypatch.setattr(reuse_module, "_READ_MOST", 8)
    data = bytes(range(256))[: size + grew]
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert reuse_module._sha256(fd, size) == hashlib.sha256(data).hexdigest()
    finally:
        os.close(fd)


def test_the_code_digest_covers_every_file_of_the_package_but_its_bytecode(tmp_path: Path) -> None:
    """What a reused file's key holds of curate's code (the environments' files, the request pages): a
    change to any module, template or data file of the package, or to a library named, is another
    digest; compiled bytecode, which Python rewrites at will, is not part of it."""
    from curate.reuse import PACKAGE, code_digest

    package = tmp_path / "curate"
    (package / "templates").mkdir(parents=True)
    (package / "data").mkdir()
    (package / "__pycache__").mkdir()
    (package / "a.py").write_text("A = 1\n", "utf-8")
    (package / "templates" / "page.html").write_text("<p>{{ x }}</p>\n", "utf-8")
    (package / "data" / "names.json").write_text("[]\n", "utf-8")
    libraries = ("packaging", "jinja2")
    first = code_digest(libraries, package)
    assert code_digest(libraries, package) == first
    (package / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0" * 16)
    assert code_digest(libraries, package) == first
    seen = {first}
    for rel, text in [
        ("a.py", "A = 2\n"),
        ("templates/page.html", "<p>{{ x|e }}</p>\n"),
        ("data/names.json", '["x"]\n'),
        ("b.py", ""),  # a module added
    ]:
        (package / rel).write_text(text, "utf-8")
        digest = code_digest(libraries, package)
        assert digest not in seen, rel
        seen.add(digest)
    (package / "b.py").unlink()  # and removed again: the digest before it was added
    assert code_digest(libraries, package) in seen
    assert code_digest((*libraries, "tomli_w"), package) not in seen
    assert code_digest(libraries) != code_digest(libraries, package)  # curate's own package by default
    assert code_digest(libraries) == code_digest(libraries, PACKAGE)


def test_the_code_digest_is_new_each_time_where_the_code_cannot_be_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A digest nothing recorded matches (each call its own: every file made again) where what runs
    cannot be told from it: a symbolic link in the package (its target could change unseen), a library
    not installed, or imported from elsewhere than its distribution's files (another copy earlier on
    the path, an editable install)."""
    import importlib.util

    from curate.reuse import code_digest

    package = tmp_path / "curate"
    package.mkdir()
    (package / "a.py").write_text("A = 1\n", "utf-8")
    assert code_digest(["packaging"], package) == code_digest(["packaging"], package)

    def new_each_time(libraries: list[str], where: Path = package) -> None:
        assert code_digest(libraries, where) != code_digest(libraries, where)

    new_each_time(["no-such-distribution-here"])
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "packaging").mkdir(parents=True)
    (elsewhere / "packaging" / "__init__.py").write_text("", "utf-8")
    real = importlib.util.find_spec
    with monkeypatch.context() as m:  # a copy of packaging earlier on the path
        m.setattr(
            importlib.util,
            "find_spec",
            lambda name, *a: (
                importlib.util.spec_from_file_location(name, elsewhere / name / "__init__.py")
                if name == "packaging"
                else real(name, *a)
            ),
        )
        new_each_time(["packaging"])
    for target, link in [
        (elsewhere, package / "templates"),  # a folder
        (elsewhere / "packaging" / "__init__.py", package / "b.py"),  # a file
    ]:
        link.symlink_to(target)
        new_each_time([])
        link.unlink()
    assert code_digest([], package) == code_digest([], package)
    with monkeypatch.context() as m:  # a folder it cannot list (as another user would find it)
        m.setattr(os, "scandir", functools.partial(_refused, os.scandir))
        new_each_time([])


def _refused(real: Callable[..., Any], path: Any = ".") -> Any:
    raise PermissionError(13, "Permission denied", str(path))
