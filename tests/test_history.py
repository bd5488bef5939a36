"""The catalog's history (curate.history): the Changes pages, changes.xml (read by a real feed parser),
api/changes/ and each package page's History, from a repository whose commits add a request, upgrade it
and remove a version with the real ``curate lock``; incremental builds, shallow clones, a rewritten
history, no history at all, and hostile text in requests and commit messages."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import feedparser
import pytest

from curate import history
from curate.catalog import project_path
from curate.cli import main
from tests.catalogs import make_repo
from tests.lockutil import curate, lock_repo, write_request
from tests.upstream import Upstream, make_upstream

GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Jane Doe",
    "GIT_AUTHOR_EMAIL": "jane.committer@example.org",
    "GIT_COMMITTER_NAME": "Jane Doe",
    "GIT_COMMITTER_EMAIL": "jane.committer@example.org",
}
REQUESTER = "Jane Requester <jane.requester@example.org>"
TITLE = 'Web service <script>alert(1)</script> & "quotes" ]]> stack'


def git(root: Path, *args: str, date: str = "2026-11-21T10:00:00Z") -> str:
    env = {**GIT_ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    return subprocess.run(
        ["git", "-C", str(root), *args], env=env, check=True, capture_output=True, text=True
    ).stdout


def commit(root: Path, message: str, date: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message, date=date)
    return git(root, "rev-parse", "HEAD").strip()


def set_requester(path: Path, title: str = TITLE) -> None:
    text = path.read_text("utf-8")
    text = text.replace("requested_by: someone@example.com", f"requested_by: {json.dumps(REQUESTER)}")
    text = re.sub(r"^title: .*$", f"title: {json.dumps(title)}", text, count=1, flags=re.M)
    path.write_text(text, "utf-8")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with make_upstream(tmp_path_factory.mktemp("upstream")) as up:
        yield up


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> tuple[Path, list[str]]:
    """Three merged changes, each locked for real: add a request (httpish 1.0, certy with it), upgrade it
    (httpish 1.1; 1.0 superseded), remove httpish 1.0 with a second request."""
    mp = pytest.MonkeyPatch()
    mp.setenv("UV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "uv-cache"))
    shas = []
    try:
        root = lock_repo(tmp_path_factory.mktemp("history") / "repo", upstream.index_url)
        git(root, "init", "-q", "-b", "main")
        web = write_request(root, "web", [("httpish", "==1.0")])
        set_requester(web)
        assert curate(root, "lock", "-q") == 0
        shas.append(commit(root, "Add the web request", "2026-11-21T10:00:00Z"))
        web.write_text(web.read_text("utf-8").replace('"==1.0"', '"==1.1"'), "utf-8")
        assert curate(root, "lock", "-q") == 0
        shas.append(commit(root, "Upgrade httpish\x1b[31m to 1.1 <b>now</b>", "2026-11-22T10:00:00Z"))
        drop = write_request(root, "drop", remove=[("httpish", "==1.0", "end of life")], date="2026-11-23")
        assert curate(root, "lock", "-q") == 0
        shas.append(commit(root, "Remove httpish 1.0", "2026-11-23T10:00:00Z"))
        assert drop.is_file()
    finally:
        mp.undo()
    return root, shas


def build(root: Path, out: Path, cache: Path, capsys: pytest.CaptureFixture[str] | None = None) -> str:
    """``curate build --site-only``; its standard output and error."""
    if capsys is not None:
        capsys.readouterr()
    assert main(["-C", str(root), "build", "--site-only", "-o", str(out), "--cache-dir", str(cache)]) == 0
    if capsys is None:
        return ""
    captured = capsys.readouterr()
    return captured.out + captured.err


def rendered_archive_pages(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The numbers of the Changes archive pages this process renders from now on, in order."""
    from curate import site

    rendered: list[int] = []
    real = site.SiteRenderer.page

    def page(self: site.SiteRenderer, name: str, **context: Any) -> str:
        if context.get("current"):
            rendered.append(context["current"])
        return real(self, name, **context)

    monkeypatch.setattr(site.SiteRenderer, "page", page)
    return rendered


def api(out: Path, name: str = "index") -> Any:
    return json.loads((out / "api" / "changes" / f"{name}.json").read_text("utf-8"))


def summary(entry: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["status"], c["name"], c["version"]) for c in entry["changes"]]


@pytest.fixture(scope="module")
def built(repo: tuple[Path, list[str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root, _ = repo
    base = tmp_path_factory.mktemp("built")
    out = base / "public"
    build(root, out, base / "cache")
    return out


def test_each_merged_change_and_what_it_did(repo: tuple[Path, list[str]], built: Path) -> None:
    _, (add, upgrade, remove) = repo
    doc = api(built)
    assert (doc["state"], doc["notes"], doc["total"], doc["pages"], doc["head"]) == (
        "complete",
        [],
        3,
        1,
        remove,
    )
    newest, middle, oldest = doc["changes"]
    assert [e["commit"] for e in doc["changes"]] == [remove, upgrade, add]  # newest first
    assert [e["date"][:10] for e in doc["changes"]] == ["2026-11-23", "2026-11-22", "2026-11-21"]

    assert summary(oldest) == [("added", "certy", "2024.1"), ("added", "httpish", "1.0")]
    assert [(r["action"], r["id"], r["title"]) for r in oldest["requests"]] == [
        ("added", "2026-11-21-web", TITLE)
    ]
    httpish = oldest["changes"][1]
    assert (httpish["os"], httpish["python"], httpish["direct"]) == (["linux", "windows"], ["3.12"], True)
    assert "windows-amd64-py3.12" in httpish["targets"]
    assert oldest["changes"][0]["via"] == ["httpish"]

    assert summary(middle) == [("added", "httpish", "1.1"), ("superseded", "httpish", "1.0")]
    assert middle["changes"][1]["reason"] == "now 1.1 for 2026-11-21-web; it stays served"
    assert [(r["action"], r["id"]) for r in middle["requests"]] == [("edited", "2026-11-21-web")]

    assert summary(newest) == [("removed", "httpish", "1.0")]
    assert newest["changes"][0]["reason"] == "removed by requests/2026-11-23-drop.yaml: end of life"
    assert newest["summary"] == {"added": 0, "present": 0, "superseded": 0, "removed": 1}
    assert api(built, "1")["changes"] == doc["changes"]


def test_the_changes_page(repo: tuple[Path, list[str]], built: Path) -> None:
    _, (add, upgrade, remove) = repo
    page = (built / "changes" / "index.html").read_text("utf-8")
    positions = [page.index(f'id="{sha}"') for sha in (remove, upgrade, add)]
    assert positions == sorted(positions)  # newest first
    section = page[positions[0] : positions[1]]
    assert "Left the catalog" in section
    assert "removed by requests/2026-11-23-drop.yaml: end of life" in section
    assert f'href="1/#{remove}"' in section  # the permanent link: archive pages never move
    assert "2026-11-23" in section
    middle = page[positions[1] : positions[2]]
    assert "Entered the catalog" in middle
    assert "Superseded (still served)" in middle
    assert '<a href="../packages/httpish/">httpish</a> <code>1.1</code>' in middle
    assert "(Linux, Windows; Python 3.12)" in middle
    assert 'href="../changes.xml"' in page
    archive = (built / "changes" / "1" / "index.html").read_text("utf-8")
    assert all(f'id="{sha}"' in archive for sha in (add, upgrade, remove))
    assert '<a href="../../packages/httpish/">' in archive
    assert "_shell" not in archive
    assert not (built / "changes" / "_shell").exists()
    sitemap = (built / "sitemap.xml").read_text("utf-8")
    assert "changes/1/</loc>" in sitemap
    assert "_shell" not in sitemap


def test_the_package_pages_history(repo: tuple[Path, list[str]], built: Path) -> None:
    _, (add, upgrade, remove) = repo
    page = (built / "packages" / "httpish" / "index.html").read_text("utf-8")
    rows = re.findall(r'<tr data-commit="([0-9a-f]+)" data-status="(\w+)"><td><a href="([^"]+)">', page)
    assert rows == [
        (remove, "removed", f"../../changes/1/#{remove}"),
        (upgrade, "added", f"../../changes/1/#{upgrade}"),
        (upgrade, "superseded", f"../../changes/1/#{upgrade}"),
        (add, "added", f"../../changes/1/#{add}"),
    ]
    doc = api(built, "packages/httpish")
    assert [(c["commit"], c["status"], c["version"]) for c in doc["changes"]] == [
        (remove, "removed", "1.0"),
        (upgrade, "added", "1.1"),
        (upgrade, "superseded", "1.0"),
        (add, "added", "1.0"),
    ]
    certy = (built / "packages" / "certy" / "index.html").read_text("utf-8")
    assert re.findall(r'<tr data-commit="([0-9a-f]+)" data-status="(\w+)">', certy) == [(add, "added")]


def test_the_feed_reads_in_a_real_feed_parser(repo: tuple[Path, list[str]], built: Path) -> None:
    _, (add, upgrade, remove) = repo
    feed = feedparser.parse((built / "changes.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "Example Corp Python catalog: changes"
    assert feed.feed.updated.startswith("2026-11-23T10:00:00")
    links = {link.rel: link.href for link in feed.feed.links}
    assert links == {
        "self": "http://127.0.0.1:8000/changes.xml",
        "alternate": "http://127.0.0.1:8000/changes/",
    }
    entries = feed.entries
    assert [e.link for e in entries] == [
        f"http://127.0.0.1:8000/changes/1/#{sha}" for sha in (remove, upgrade, add)
    ]
    assert len({e.id for e in entries}) == 3
    assert all(e.id.startswith("urn:uuid:") for e in entries)
    assert entries[2].title == f"2026-11-21: {TITLE}"  # text from the request is text, in the XML too
    assert (
        entries[0].summary
        == "0 entered, 0 newly needed, 0 superseded, 1 left; requests: 2026-11-23-drop (added)"
    )
    content = entries[1].content[0]
    assert content.type == "text/html"
    assert "Superseded (still served)" in content.value
    assert '<a href="http://127.0.0.1:8000/packages/httpish/">httpish</a>' in content.value  # absolute links
    assert "Upgrade httpish\ufffd[31m to 1.1 &lt;b&gt;now&lt;/b&gt;" in content.value  # no ESC in XML


def test_text_from_requests_and_commits_is_escaped_and_requesters_are_not_published(built: Path) -> None:
    outputs = [
        built / "changes.xml",
        *(built / "changes").rglob("*.html"),
        *(built / "api" / "changes").rglob("*"),
    ]
    for path in outputs:  # what the history writes (the Requests page's privacy is site.show_requesters')
        if path.is_file():
            text = path.read_text("utf-8")
            if path.suffix == ".json":  # data: the text as it is, in valid JSON
                json.loads(text)
            else:
                assert "<script>alert(1)" not in text, path
            assert "jane.requester@example.org" not in text, path  # site.show_requesters: off by default
            assert "jane.committer@example.org" not in text, path  # commit authors are never published
            assert "\x1b" not in text, path
    page = (built / "changes" / "index.html").read_text("utf-8")
    assert "Web service &lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quotes&#34; ]]&gt; stack" in page
    assert "Upgrade httpish\x1b" not in page


def test_incremental_builds_use_the_cache(
    repo: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _shas = repo
    work = tmp_path / "repo"
    shutil.copytree(root, work)
    cache = tmp_path / "cache"
    out = tmp_path / "public"
    assert (
        "history: 3 change(s) on the Changes page and in changes.xml (3 read from git, 0 from the cache)"
        in (build(work, out, cache, capsys))
    )
    first = {p.relative_to(out): p.read_bytes() for p in (out / "api" / "changes").rglob("*.json")}
    assert "(0 read from git, 3 from the cache)" in build(work, out, cache, capsys)
    again = {p.relative_to(out): p.read_bytes() for p in (out / "api" / "changes").rglob("*.json")}
    assert again == first  # the cache gives the same bytes
    write_request(work, "more", [("certy", "")], date="2026-11-24")
    new = commit(work, "A request for certy alone", "2026-11-24T10:00:00Z")
    assert (
        "history: 4 change(s) on the Changes page and in changes.xml (1 read from git, 3 from the cache)"
        in (build(work, out, cache, capsys))
    )
    newest = api(out)["changes"][0]
    assert (newest["commit"], newest["changes"], newest["requests"][0]["id"]) == (new, [], "2026-11-24-more")
    page = (out / "changes" / "index.html").read_text("utf-8")
    assert "Nothing entered, was superseded or left the catalog." in page
    # a cache that does not read is computed again, never trusted
    for path in (cache / history.CACHE_DIR).iterdir():
        path.write_text('{"format": 1, "entries": {"' + new + '": {"commit": 5}}}', "utf-8")
    assert "(4 read from git, 0 from the cache)" in build(work, out, cache, capsys)
    assert api(out)["changes"][0]["commit"] == new


def test_the_cache_is_appended_to(
    repo: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One more merged change appends its entry to the cache (the file is not written again); a torn
    last line (a build killed while appending) is left out, and the file is written whole again."""
    root, _ = repo
    work = tmp_path / "repo"
    shutil.copytree(root, work)
    cache, out = tmp_path / "cache", tmp_path / "public"
    build(work, out, cache)
    (entries,) = (cache / history.CACHE_DIR).glob("entries-*.jsonl")
    first = entries.read_bytes()
    assert len(first.splitlines()) == 3
    write_request(work, "more", [("certy", "")], date="2026-11-24")
    new = commit(work, "A request for certy alone", "2026-11-24T10:00:00Z")
    assert "(1 read from git, 3 from the cache)" in build(work, out, cache, capsys)
    now = entries.read_bytes()
    assert now.startswith(first)
    assert json.loads(now[len(first) :])["commit"] == new
    entries.write_bytes(now + b'{"commit": "' + new.encode())  # torn
    assert "(0 read from git, 4 from the cache)" in build(work, out, cache, capsys)
    entries.write_bytes(now[:-20])  # the newest entry torn: computed again, the file written whole
    assert "(1 read from git, 3 from the cache)" in build(work, out, cache, capsys)
    assert sorted(entries.read_bytes().splitlines()) == sorted(now.splitlines())
    assert json.loads(history.line_file(entries).read_text("utf-8"))["line"][0] == new


def clone(root: Path, dst: Path, *args: str) -> Path:
    subprocess.run(
        ["git", "clone", "-q", *args, f"file://{root}", str(dst)],
        env=GIT_ENV,
        check=True,
        capture_output=True,
    )
    return dst


def test_a_shallow_clone_says_what_is_missing(
    repo: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, (_, upgrade, remove) = repo
    shallow = clone(root, tmp_path / "shallow", "--depth", "2")
    out = tmp_path / "public"
    printed = build(shallow, out, tmp_path / "cache", capsys)
    assert (
        "history: This is a shallow clone: the catalog's history before 2026-11-22 was not fetched" in printed
    )
    doc = api(out)
    assert doc["state"] == "shallow"
    assert "git fetch --unshallow" in doc["notes"][0]
    assert "fetch-depth: 0" in doc["notes"][0]
    newest, start = doc["changes"]
    assert (newest["commit"], summary(newest)) == (remove, [("removed", "httpish", "1.0")])
    assert (start["commit"], start["boundary"], start["changes"]) == (upgrade, True, [])
    page = (out / "changes" / "index.html").read_text("utf-8")
    assert "This is a shallow clone" in page
    assert "The history in this clone starts here" in page
    feed = feedparser.parse((out / "changes.xml").read_bytes())
    assert not feed.bozo
    assert len(feed.entries) == 2
    assert "This is a shallow clone" in feed.feed.subtitle
    # fetching the rest makes it whole (the cache never kept the boundary as if it were complete)
    git(shallow, "fetch", "-q", "--unshallow")
    build(shallow, out, tmp_path / "cache")
    doc = api(out)
    assert (doc["state"], doc["notes"], doc["total"]) == ("complete", [], 3)
    assert summary(doc["changes"][1]) == [("added", "httpish", "1.1"), ("superseded", "httpish", "1.0")]


def test_a_rewritten_history_is_said_and_built_as_it_is_now(
    repo: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, (_, _, remove) = repo
    work = clone(root, tmp_path / "work")
    out = tmp_path / "public"
    cache = tmp_path / "cache"
    build(work, out, cache)
    assert api(out)["head"] == remove
    git(work, "reset", "-q", "--hard", "HEAD~1")  # the removal is rewritten: squashed into a new commit
    (work / "README").write_text("x\n", "utf-8")
    path = write_request(work, "drop", remove=[("httpish", "==1.0", "end of life")], date="2026-11-23")
    assert path.is_file()
    assert curate(work, "lock", "-q") == 0
    rewritten = commit(work, "Remove httpish 1.0, rewritten", "2026-11-25T10:00:00Z")
    printed = build(work, out, cache, capsys)
    assert f"The newest change the previous build published ({remove[:12]}) is not in this history" in printed
    doc = api(out)
    assert doc["head"] == rewritten
    assert doc["state"] == "complete"
    assert "rewritten" in doc["notes"][0]
    assert next(e["commit"] for e in doc["changes"]) == rewritten
    assert summary(doc["changes"][0]) == [("removed", "httpish", "1.0")]
    assert "was rewritten" in (out / "changes" / "index.html").read_text("utf-8")
    (entries,) = (cache / history.CACHE_DIR).glob("entries-*.jsonl")
    assert rewritten in {json.loads(line)["commit"] for line in entries.read_text("utf-8").splitlines()}
    line = json.loads(history.line_file(entries).read_text("utf-8"))["line"]
    assert line[0] == rewritten
    assert remove not in line
    # the next build publishes the history as it is: nothing to say any more
    assert "not in this history" not in build(work, out, cache, capsys)


def test_no_history_builds_and_says_why(repo: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, _ = repo
    plain = tmp_path / "plain"
    shutil.copytree(root, plain, ignore=shutil.ignore_patterns(".git"))
    out = tmp_path / "public"
    build(plain, out, tmp_path / "cache")
    doc = api(out)
    assert (doc["state"], doc["total"], doc["changes"], doc["pages"]) == ("none", 0, [], 0)
    assert doc["notes"][0].startswith("the catalog's git history is not available (git ")
    assert "not a git repository" in doc["notes"][0]
    page = (out / "changes" / "index.html").read_text("utf-8")
    assert "the catalog&#39;s git history is not available" in page
    assert "No changes to show." in page
    assert "No history: the catalog&#39;s git history is not available" in (
        out / "packages" / "httpish" / "index.html"
    ).read_text("utf-8")
    feed = feedparser.parse((out / "changes.xml").read_bytes())
    assert not feed.bozo
    assert feed.entries == []
    git(plain, "init", "-q", "-b", "main")  # a repository without a commit yet
    build(plain, out, tmp_path / "cache")
    assert api(out)["notes"] == ["no commit has changed catalog/ or requests/ yet"]


# -- hand-made histories: what does not read, hostile text, pagination -------------------------------------


def small_repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "repo")
    git(root, "init", "-q", "-b", "main")
    return root


def package(name: str, *versions: str, request: str = "2026-01-01-x") -> str:
    from curate.catalog import FileEntry, Need, Project, VersionEntry

    return Project(
        name=name,
        versions=tuple(
            VersionEntry(
                version=v,
                needed_by=(Need(request=request, targets=("linux-x86_64-py3.12",), direct=True),),
                files=(
                    FileEntry(
                        filename=f"{name}-{v}-py3-none-any.whl",
                        sha256="ab" * 32,
                        size=1,
                        targets=("linux-x86_64-py3.12",),
                    ),
                ),
            )
            for v in versions
        ),
    ).dumps()


def test_a_catalog_file_that_does_not_read_is_named_and_left_out(tmp_path: Path) -> None:
    root = small_repo(tmp_path)
    path = project_path(root, "alpha")
    path.write_text(package("alpha", "1.0"), "utf-8")
    commit(root, "alpha 1.0", "2026-01-01T00:00:00Z")
    path.write_text("name: alpha\nversions: [{version: 2.0, files: [{filename: x}]}]\n", "utf-8")
    project_path(root, "beta").write_text(package("beta", "1.0"), "utf-8")
    broken = commit(root, "a broken alpha, and beta", "2026-01-02T00:00:00Z")
    path.write_text(package("alpha", "1.0", "3.0"), "utf-8")
    project_path(root, "gamma").write_text(package("delta", "1.0"), "utf-8")  # named after another project
    commit(root, "alpha 3.0", "2026-01-03T00:00:00Z")
    found = history.collect(root, env=GIT_ENV, os_of_platform={}, cache_dir=None)
    assert found.state == "complete"
    newest, middle, oldest = found.entries
    assert [(c.status, c.name, c.version) for c in oldest.changes] == [("added", "alpha", "1.0")]
    assert middle.sha == broken
    assert [(c.status, c.name) for c in middle.changes] == [("added", "beta")]
    assert middle.notes[0].startswith("catalog/packages/alpha.yaml does not read as a catalog file here")
    assert middle.notes[0].endswith("; what it changed is not shown")
    assert [n.split(":")[0].split(" ")[0] for n in newest.notes] == [
        "catalog/packages/alpha.yaml",  # its old side does not read: nothing said about it
        "catalog/packages/gamma.yaml",
    ]
    assert newest.notes[1] == (
        "catalog/packages/gamma.yaml holds 'delta', not the project it is named after; what it changed is not shown"
    )
    assert newest.changes == ()


def test_pages_are_numbered_from_the_oldest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(history, "PER_PAGE", 2)
    entries = tuple(
        history.Entry(sha=f"{i:040x}", parent="", date=f"2026-01-{i:02d}T00:00:00Z", subject=str(i))
        for i in range(5, 0, -1)
    )
    found = history.History(entries=entries, state="complete")
    assert found.pages == 3
    assert [e.subject for e in found.page(1)] == ["2", "1"]
    assert [e.subject for e in found.page(3)] == ["5"]
    assert found.pages_of() == {e.sha: p for e, p in zip(entries, [3, 2, 2, 1, 1], strict=True)}
    assert [e.subject for e in found.latest()] == ["5", "4"]


def test_long_histories_are_paginated(
    repo: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root, (add, upgrade, remove) = repo
    monkeypatch.setattr(history, "PER_PAGE", 1)
    out = tmp_path / "public"
    build(root, out, tmp_path / "cache")
    landing = (out / "changes" / "index.html").read_text("utf-8")
    assert f'id="{remove}"' in landing
    assert f'id="{upgrade}"' not in landing
    assert '<a href="2/" rel="next">Older changes</a>' in landing
    assert '<a href="1/" title="2026-11-21 to 2026-11-21">1</a>' in landing
    for number, sha in ((1, add), (2, upgrade), (3, remove)):
        page = (out / "changes" / str(number) / "index.html").read_text("utf-8")
        assert f'id="{sha}"' in page
        assert page.count('class="curate-history-entry"') == 1
        assert f"<title>Changes, page {number}" in page
        assert api(out, str(number))["changes"][0]["commit"] == sha
    assert '<a href="../1/" rel="next">Older changes</a>' in (out / "changes" / "2" / "index.html").read_text(
        "utf-8"
    )
    assert '<a href="../" rel="prev">Newer changes</a>' in (out / "changes" / "3" / "index.html").read_text(
        "utf-8"
    )
    assert (api(out)["pages"], api(out)["per_page"]) == (3, 1)


def test_catalog_files_read_version_by_version_are_read_right() -> None:
    """curate.catalog.VersionMemo (each version's text parsed once along the commits) gives what reading
    the whole file gives, for every file of the example catalog and edits of it; a file in another
    layout is read whole."""
    from curate.catalog import VersionMemo, _cut_versions, project_from_bytes
    from tests.conftest import REPO

    for path in sorted((REPO / "catalog" / "packages").glob("*.yaml")):
        raw = path.read_bytes()
        assert _cut_versions(raw) is not None, f"{path.name}: not cut at its versions (read whole)"
        memo = VersionMemo()
        edits = [
            raw,
            raw.replace(b"direct: true", b"direct: false"),  # an item changed
            raw
            + raw[raw.index(b"\n  - version: ") + 1 :].replace(b"version: ", b"version: 99", 1),  # one more
            raw,
            b"name: " + path.stem.encode() + b"\nversions: []\n",  # another layout: read whole
            raw.replace(b"versions:\n", b"versions:\n# a comment\n"),
            raw,
        ]
        for text in edits:
            assert memo.read(text, path.name) == project_from_bytes(text, path.name), path.name


def test_the_history_reads_only_the_keys_it_shows() -> None:
    """VersionMemo(keys) (what the history reads: each version's number, needs, files and superseded
    date; its vetting and the rest never parsed) gives the versions read whole less the other keys, for
    every file of the example catalog and edits of it: a key's text changed, a version added, and items
    not in curate's layout (keys out of order, a line at four spaces that is no key), read whole."""
    import dataclasses

    from curate.catalog import (
        Project,
        VersionEntry,
        VersionMemo,
        _cut_keys,
        _cut_versions,
        project_from_bytes,
    )
    from curate.errors import ValidationError
    from curate.history import READ_KEYS
    from tests.conftest import REPO

    def shown(project: Project) -> Project:
        return dataclasses.replace(
            project,
            versions=tuple(VersionEntry(**{k: getattr(v, k) for k in READ_KEYS}) for v in project.versions),
        )

    for path in sorted((REPO / "catalog" / "packages").glob("*.yaml")):
        raw = path.read_bytes()
        cut = _cut_versions(raw)
        assert cut is not None
        assert all(_cut_keys(item) is not None for item in cut[1]), f"{path.name}: not cut at its keys"
        first = raw.index(b"\n  - version: ") + 1
        memo = VersionMemo(READ_KEYS)
        files_edit = raw.replace(b"    files:", b"    files:\n    - filename: x\n", 1)
        edits = [
            (raw, raw),
            (raw.replace(b"direct: true", b"direct: false"), None),  # needed_by changed
            # only the vetting changed, to what it cannot be: it is not parsed, so the versions stay
            (raw.replace(b"status: pass", b"status: nonsense"), raw),
            (raw + raw[first:].replace(b"version: ", b"version: 99", 1), None),  # one more version
            (raw, raw),
            (raw.replace(b"    requires_python:", b"    # a comment\n    requires_python:", 1), None),
            (
                raw.replace(b"    needed_by:", b"    zzz: 1\n    needed_by:", 1),
                None,
            ),  # a key curate does not write
            (
                raw.replace(b"    yanked:", b"    vetting: {}\n    yanked:", 1),
                None,
            ),  # out of order: read whole
            (files_edit, None),  # not YAML: neither way reads it
            (raw, raw),
        ]
        for text, same_as in edits:
            try:
                expected = shown(project_from_bytes(same_as or text, path.name))
            except ValidationError:
                with pytest.raises(ValidationError):
                    memo.read(text, path.name)
                continue
            assert memo.read(text, path.name) == expected, path.name


_SMUGGLED = """\
name: foo
versions:
  - version: '1.0'
    yanked: {yanked}
    superseded_since: 2020-01-01
    needed_by:
      - request: 2024-01-01-ghost
        targets: [linux-x86_64-py3.12]
        direct: true
    files: []
    vetting: {vetting}
"""


@pytest.mark.parametrize(
    ("yanked", "vetting", "cut"),
    [
        # a quoted scalar or a flow collection opened in a key the history skips and closed in another:
        # the lines between are the string's (or the list's), not keys
        ('"x', 'y"', False),
        ("'x", "y'", False),
        ('!!str "x', 'y"', False),
        ("[x", "y]", False),
        ("{x: ", "y}", False),
        ("\n      - 'x", "y'", False),  # opened deeper
        ('"x', "y\n  - version: '2.0\"'", False),  # through to the next version's item
        ("x\r    vetting: x", "{}", False),  # a line break libyaml reads and the cut does not
        # quotes that open nothing or close on their line: within a plain scalar, doubled, escaped
        ("a 'b\" c # 'd", "{}", True),
        ("'it''s' # x", "{}", True),
        ('"a \\" b"', "{a: [1, 'b', \"c\", {d: e}]}", True),
    ],
)
def test_the_history_reads_what_the_full_parser_reads(yanked: str, vetting: str, cut: bool) -> None:
    """VersionMemo(READ_KEYS) reads what the whole parse reads, less the other keys, for items crafted to
    cut wrong: a quoted scalar or flow collection that holds lines at a key's indentation, whichever key
    it opens in, is parsed whole, so its lines are never read as keys (where the strict reader rejects
    the file, the memo, which does not check the keys it skips, may read it but not those lines); and
    items whose quotes only look like openers are still cut at their keys."""
    import dataclasses

    from curate.catalog import VersionEntry, VersionMemo, _cut_keys, _cut_versions, project_from_bytes
    from curate.errors import ValidationError
    from curate.history import READ_KEYS

    raw = _SMUGGLED.format(yanked=yanked, vetting=vetting).encode()
    items = _cut_versions(raw)
    assert items is not None
    assert (_cut_keys(items[1][0]) is not None) is cut
    memo = VersionMemo(READ_KEYS)
    try:
        full = project_from_bytes(raw, "foo.yaml")
    except ValidationError:
        try:
            read = memo.read(raw, "foo.yaml")
        except ValidationError:
            return
        assert [(v.superseded_since, v.needed_by, v.files) for v in read.versions] == [("", (), ())]
        return
    expected = dataclasses.replace(
        full, versions=tuple(VersionEntry(**{k: getattr(v, k) for k in READ_KEYS}) for v in full.versions)
    )
    assert memo.read(raw, "foo.yaml") == expected
    assert memo.read(raw, "foo.yaml") == expected  # again, from what the memo kept
    if cut:
        assert expected.versions[0].needed_by


def test_requesters_are_published_when_the_catalog_says_so(
    repo: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """site.show_requesters: true in catalog/config.yaml puts who asked beside each request, escaped."""
    root, _ = repo
    work = tmp_path / "repo"
    shutil.copytree(root, work)
    config = work / "catalog" / "config.yaml"
    text = config.read_text("utf-8")
    assert "  show_requesters: false" in text
    config.write_text(text.replace("  show_requesters: false", "  show_requesters: true", 1), "utf-8")
    out = tmp_path / "public"
    build(work, out, tmp_path / "cache")
    oldest = api(out)["changes"][-1]
    assert oldest["requests"][0]["requested_by"] == REQUESTER
    page = (out / "changes" / "index.html").read_text("utf-8")
    assert ", by Jane Requester &lt;jane.requester@example.org&gt;)" in page
    assert "jane.committer@example.org" not in page


def test_archive_pages_are_rendered_once(
    repo: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An archive page rendered before with the same content comes from the file cache: one more merged
    change renders the page it lands on and the one before it (its way to newer changes), and every
    page is byte for byte what a build without the cache writes."""
    from curate import site

    root, _ = repo
    monkeypatch.setattr(history, "PER_PAGE", 1)
    work = tmp_path / "repo"
    shutil.copytree(root, work)
    rendered = rendered_archive_pages(monkeypatch)
    cache, out = tmp_path / "cache", tmp_path / "public"
    build(work, out, cache)
    assert sorted(rendered) == [1, 2, 3]
    rendered.clear()
    build(work, out, cache)
    assert rendered == []
    write_request(work, "more", [("certy", "")], date="2026-11-24")
    commit(work, "A request for certy alone", "2026-11-24T10:00:00Z")
    rendered.clear()
    build(work, out, cache)
    assert sorted(rendered) == [3, 4]
    fresh = tmp_path / "fresh"
    build(work, fresh, tmp_path / "other-cache")
    for number in range(1, 5):
        name = Path("changes", str(number), "index.html")
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name
    assert len(list((cache / site.ARCHIVE_CACHE).iterdir())) == 4  # page 3 as it was is dropped
    page4 = (out / "changes" / "4" / "index.html").read_text("utf-8")
    assert '<a href="../3/" rel="next">Older changes</a>' in page4
    assert '<a href="../1/">the oldest changes</a> · <a href="../#pages">all pages</a>' in page4
    assert 'id="pages"' in (out / "changes" / "index.html").read_text("utf-8")
    assert '<a href="../../requests/#2026-11-24-more">' in page4
    # a request the page links to is gone (a project would be alike): that page is rendered again
    (work / "requests" / "2026-11-24-more.yaml").unlink()
    rendered.clear()
    build(work, out, cache)
    assert rendered == [4]
    assert "../../requests/#2026-11-24-more" not in (out / "changes" / "4" / "index.html").read_text("utf-8")
    build(work, fresh, tmp_path / "third-cache")
    for number in range(1, 5):
        name = Path("changes", str(number), "index.html")
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name


def test_an_archive_page_cached_half_written_or_edited_is_rendered_again(
    repo: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The cached archive pages are not fsynced: each starts with its sha256, and one that does not match
    it (torn by a crash, or edited) is rendered again, never served."""
    from curate import site

    root, _ = repo
    monkeypatch.setattr(history, "PER_PAGE", 1)
    cache, out = tmp_path / "cache", tmp_path / "public"
    build(root, out, cache)
    fresh = {p: p.read_bytes() for p in (out / "changes").rglob("index.html")}
    torn, edited, _kept = sorted((cache / site.ARCHIVE_CACHE).glob("*.html"))
    torn.write_bytes(torn.read_bytes()[:-10])
    edited.write_bytes(edited.read_bytes().replace(b"curate-history-entry", b"curate-history-entrX"))
    rendered = rendered_archive_pages(monkeypatch)
    build(root, out, cache)
    assert len(rendered) == 2
    assert {p: p.read_bytes() for p in (out / "changes").rglob("index.html")} == fresh
    assert b"curate-history-entrX" not in edited.read_bytes()
    rendered.clear()
    build(root, out, cache)
    assert rendered == []


def test_api_changes_files_are_written_once(
    repo: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A project's api/changes/ file that the previous (published) build wrote from the same entries is
    hard-linked from the live tree, not serialised again: one more merged change writes the files of the
    projects it touched; every file is byte for byte what a build without the cache writes; a record of
    another tree (a build that was not published, another output) is not trusted."""
    root, _ = repo
    work = tmp_path / "repo"
    shutil.copytree(root, work)
    written: list[str] = []
    real = history.package_json

    def package_json(name: str, normalized: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        written.append(normalized)
        return real(name, normalized, *args, **kwargs)

    monkeypatch.setattr(history, "package_json", package_json)
    cache, out = tmp_path / "cache", tmp_path / "public"
    git(work, "checkout", "-q", "HEAD~1")
    build(work, out, cache)
    before = set(written)
    assert before
    written.clear()
    build(work, out, cache)
    assert written == []
    git(work, "checkout", "-q", "-")
    build(work, out, cache)
    newest = {c["normalized"] for c in api(out)["changes"][0]["changes"]}
    assert newest
    assert sorted(written) == sorted(newest)
    fresh = tmp_path / "fresh"
    build(work, fresh, tmp_path / "other-cache")
    files = sorted(p.relative_to(out) for p in (out / "api" / "changes").rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(fresh) for p in (fresh / "api" / "changes").rglob("*") if p.is_file()
    )
    for name in files:
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name
    every = {p.stem for p in (out / "api" / "changes" / "packages").iterdir()}
    written.clear()
    build(work, tmp_path / "elsewhere", cache)  # another tree: its files are not the recorded ones
    assert set(written) == every
    written.clear()
    build(work, tmp_path / "elsewhere", cache)
    assert written == []


def test_the_history_since_a_commit_is_read_from_there_only(tmp_path: Path) -> None:
    """curate.git.first_parent_log_since: the catalog commits after a commit of HEAD's first-parent line;
    None when that commit is not on the line (HEAD moved back, a rewrite, a merged branch's commit)."""
    from curate import git as curate_git

    root = tmp_path / "repo"
    (root / "catalog").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")

    def change(name: str, where: str = "catalog") -> str:
        (root / where).mkdir(exist_ok=True)
        (root / where / name).write_text(name, "utf-8")
        return commit(root, name, "2026-11-21T10:00:00Z")

    first = change("a")
    second = change("b")
    outside = change("c", where="docs")  # not a catalog change
    git(root, "checkout", "-q", "-b", "side", first)
    side = change("d")
    git(root, "checkout", "-q", "main")
    git(root, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    merge = git(root, "rev-parse", "HEAD").strip()
    env = dict(GIT_ENV)

    def since(base: str) -> list[str] | None:
        found = curate_git.first_parent_log_since(root, base, history.PATHS, env=env)
        return None if found is None else [c.sha for c in found]

    full = [c.sha for c in curate_git.first_parent_log(root, history.PATHS, env=env)]
    assert full == [merge, second, first]
    assert since(merge) == []
    assert since(outside) == [merge]
    assert since(second) == [merge]
    assert since(first) == [merge, second]
    assert since(side) is None  # merged, but not on the first-parent line
    assert since("0" * 40) is None
    git(root, "reset", "-q", "--hard", second)
    assert since(merge) is None  # HEAD moved back


def test_a_read_that_starts_anywhere_in_the_history_gives_the_same_entries(
    repo: tuple[Path, list[str]],
) -> None:
    """The commits read in runs, each by its own reader starting with nothing read (as an incremental
    build reads the new commits), give the entries one read of them all gives: an entry depends only on
    its commit."""
    from curate import git as curate_git

    root, shas = repo
    oses = {"linux-x86_64": "linux", "windows-amd64": "windows"}
    one = history.collect(root, env=GIT_ENV, os_of_platform=oses, cache_dir=None)
    commits = curate_git.first_parent_log(root, history.PATHS, env=GIT_ENV)[::-1]
    compute = history._Compute(root, GIT_ENV, oses)
    for cut in range(1, len(commits)):
        runs = compute(commits[:cut]) + compute(commits[cut:])
        assert [e.sha for e in runs] == shas
        assert tuple(runs[::-1]) == one.entries
    assert one.entries[0].changes  # not empty: the removal's entry says what left


@pytest.mark.parametrize("where", ["", "sub/dir"])
def test_the_log_reads_what_a_path_limited_walk_and_diff_tree_read(tmp_path: Path, where: str) -> None:
    """curate.git.first_parent_log (one unlimited walk, each commit's files read with it): the commits a
    path-limited ``git log --first-parent`` chooses, each with the files ``git diff-tree`` gives against
    its first parent; for a root commit, merges (against their first parent; a merge that only brings
    what main had is left out), a rename, a file that becomes a folder, a file named like the folder,
    changes outside catalog/ and requests/, and a catalog in a subfolder; whatever the user's git config
    says about renames, order files, the root commit, colours and relative paths."""
    from curate import git as curate_git

    top = tmp_path / "repo"
    root = top / where
    (root / "catalog" / "packages").mkdir(parents=True)
    git(top, "init", "-q", "-b", "main")
    order = tmp_path / "order"
    order.write_text("requests/*\ncatalog/packages/b.yaml\n", "utf-8")
    hostile = tmp_path / "gitconfig"
    hostile.write_text(
        "[diff]\n\trenames = copies\n\torderFile = " + str(order) + "\n\trelative = false\n"
        "[log]\n\tshowRoot = false\n\tshowSignature = true\n[color]\n\tui = always\n",
        "utf-8",
    )
    env = {**GIT_ENV, "GIT_CONFIG_GLOBAL": str(hostile)}

    def write(path: str, text: str) -> None:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, "utf-8")

    def run(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], env=env, check=True, capture_output=True, text=True
        ).stdout

    write("catalog/packages/a.yaml", "a\n")
    write("catalog/packages/b.yaml", "b\n")
    write("requests/r1.yaml", "r1\n")
    write("docs/x.md", "x\n")
    if where:
        (top / "README").write_text("top\n", "utf-8")
    commit(top, "root", "2026-11-20T10:00:00Z")
    write("docs/x.md", "y\n")
    commit(top, "docs only", "2026-11-20T11:00:00Z")
    (root / "catalog" / "packages" / "a.yaml").rename(root / "catalog" / "packages" / "c.yaml")
    write("requests/r2.yaml", "r2\n")
    commit(top, "a rename", "2026-11-20T12:00:00Z")
    git(top, "checkout", "-q", "-b", "side")
    write("catalog/packages/b.yaml", "b2\n")
    commit(top, "side 1", "2026-11-20T13:00:00Z")
    write("requests/r1.yaml", "r1 again\n")
    commit(top, "side 2", "2026-11-20T14:00:00Z")
    git(top, "checkout", "-q", "main")
    write("docs/x.md", "z\n")
    commit(top, "docs again", "2026-11-20T15:00:00Z")
    git(top, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    git(top, "checkout", "-q", "-b", "docs")
    write("docs/y.md", "y\n")
    commit(top, "docs branch", "2026-11-20T16:00:00Z")
    git(top, "checkout", "-q", "main")
    git(top, "merge", "-q", "--no-ff", "-m", "merge docs", "docs")  # nothing under catalog/ or requests/
    (root / "requests" / "r2.yaml").unlink()
    write("requests/r2.yaml/inner.yaml", "now a folder\n")
    write("catalog.yaml", "not the folder\n")
    commit(top, "a file becomes a folder", "2026-11-20T17:00:00Z")
    (root / "requests" / "r2.yaml" / "inner.yaml").unlink()
    (root / "requests" / "r2.yaml").rmdir()
    write("requests/r2.yaml", "a file again\n")
    commit(top, "and a file again", "2026-11-20T18:00:00Z")

    commits = curate_git.first_parent_log(root, history.PATHS, env=env)
    chosen = run("log", "--first-parent", "--format=%H", "HEAD", "--", *history.PATHS).split()
    assert [c.sha for c in commits] == chosen
    assert len(chosen) == 5  # not the docs-only commits, nor the merge of the docs branch
    expected = curate_git.changed_files_of(root, [(c.sha, c.parent) for c in commits], history.PATHS, env=env)
    assert {c.sha: list(c.files or ()) for c in commits} == expected
    assert all(c.files for c in commits)
    merge = next(c for c in commits if c.subject == "merge side")
    assert [(f.path, f.status) for f in merge.files or ()] == [
        ("catalog/packages/b.yaml", "M"),
        ("requests/r1.yaml", "M"),
    ]
    since = curate_git.first_parent_log_since(root, chosen[3], history.PATHS, env=env)
    assert since == commits[:3]


def test_a_cold_read_asks_git_for_each_blob_once(
    repo: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalog file's blob before a commit is the one read after the commit before it that changed the
    file: git is asked for each blob once, a batch at a time or a commit at a time, and the entries are
    the same."""
    from curate import git as curate_git

    root, _ = repo
    oses = {"linux-x86_64": "linux", "windows-amd64": "windows"}
    one = history.collect(root, env=GIT_ENV, os_of_platform=oses, cache_dir=None)
    asked: list[str] = []
    real = curate_git.blobs

    def blobs(root: Path, shas: Any, *, env: Mapping[str, str]) -> dict[str, bytes | None]:
        asked.extend(shas)
        return real(root, shas, env=env)

    monkeypatch.setattr(curate_git, "blobs", blobs)
    monkeypatch.setattr(history, "BATCH", 1)
    again = history.collect(root, env=GIT_ENV, os_of_platform=oses, cache_dir=None)
    assert again.entries == one.entries
    assert asked
    assert len(asked) == len(set(asked))


# -- the history computed beside the build (curate.history.Background) ----------------------------------

OSES = {"linux-x86_64": "linux", "windows-amd64": "windows"}


@pytest.fixture
def forking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forking as on the two-core machine the tests run on, whatever this one has."""
    monkeypatch.setattr(history, "_may_fork", lambda: True)


def test_the_history_computed_beside_is_the_one_computed_here(
    repo: tuple[Path, list[str]], tmp_path: Path, forking: None
) -> None:
    """A forked process computes the same history, writes the same cache and reads it back, by itself (no
    workers of its own: the build has the other cores)."""
    root, shas = repo
    here = history.collect(root, env=GIT_ENV, os_of_platform=OSES, cache_dir=tmp_path / "here")
    job = history.Background.start(root, env=GIT_ENV, os_of_platform=OSES, cache_dir=tmp_path / "beside")
    assert job.beside
    beside = job.result()
    assert job.result() is beside  # waited for once
    assert [e.sha for e in beside.entries] == shas[::-1]
    assert beside == here
    assert job.by_package() == here.by_package()  # made beside, with it
    assert job.pages_of() == here.pages_of()
    files = sorted(p.name for p in (tmp_path / "here" / history.CACHE_DIR).iterdir())
    assert sorted(p.name for p in (tmp_path / "beside" / history.CACHE_DIR).iterdir()) == files
    for name in files:
        assert (tmp_path / "here" / history.CACHE_DIR / name).read_bytes() == (
            tmp_path / "beside" / history.CACHE_DIR / name
        ).read_bytes()
    again = history.Background.start(root, env=GIT_ENV, os_of_platform=OSES, cache_dir=tmp_path / "beside")
    assert (again.result().computed, again.result().reused) == (0, 3)
    job.stop()  # nothing left to stop: a no-op


def test_nothing_runs_beside_where_forking_is_not_safe(repo: tuple[Path, list[str]]) -> None:
    """Another thread running (curate serve's, mkdocs serve's): the history is computed here, when asked."""
    import threading

    root, shas = repo
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        job = history.Background.start(root, env=GIT_ENV, os_of_platform=OSES, cache_dir=None)
        assert not job.beside
        assert [e.sha for e in job.result().entries] == shas[::-1]
        assert job.by_package() == job.result().by_package()
        assert job.pages_of() == dict.fromkeys(shas, 1)
    finally:
        stop.set()
        thread.join()


def test_git_failing_beside_is_a_history_without_entries(tmp_path: Path, forking: None) -> None:
    job = history.Background.start(
        tmp_path, env={**GIT_ENV, "GIT_DIR": os.devnull}, os_of_platform=OSES, cache_dir=None
    )
    found = job.result()
    assert (found.state, found.entries) == ("none", ())
    assert found.notes[0].startswith("the catalog's git history is not available (git ")


def _raises(*args: Any, **kwargs: Any) -> history.History:
    raise ValueError("a bug in reading the history")


def _killed(*args: Any, **kwargs: Any) -> history.History:
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("not reached")


def _sleeps(*args: Any, **kwargs: Any) -> history.History:
    import time

    time.sleep(120)
    raise AssertionError("not stopped")


def test_what_the_process_raises_is_raised_and_its_death_is_said(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, forking: None
) -> None:
    from curate.errors import BuildError

    monkeypatch.setattr(history, "collect", _raises)
    job = history.Background.start(tmp_path, env=GIT_ENV, os_of_platform=OSES, cache_dir=None)
    assert job.beside
    with pytest.raises(ValueError, match="a bug in reading the history"):
        job.result()
    job.stop()
    monkeypatch.setattr(history, "collect", _killed)
    job = history.Background.start(tmp_path, env=GIT_ENV, os_of_platform=OSES, cache_dir=None)
    with pytest.raises(
        BuildError,
        match=r"the process reading the catalog's history stopped without finishing \(exit code -9\)",
    ):
        job.result()


def test_stop_ends_the_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, forking: None) -> None:
    monkeypatch.setattr(history, "collect", _sleeps)
    job = history.Background.start(tmp_path, env=GIT_ENV, os_of_platform=OSES, cache_dir=None)
    process = job._process
    assert process is not None
    assert process.is_alive()
    job.stop()
    assert not process.is_alive()
    job.stop()


def _started(monkeypatch: pytest.MonkeyPatch) -> list[history.Background]:
    """Every Background the build starts."""
    jobs: list[history.Background] = []
    real = history.Background.start.__func__  # type: ignore[attr-defined]

    def start(cls: type[history.Background], *args: Any, **kwargs: Any) -> history.Background:
        job: history.Background = real(cls, *args, **kwargs)
        jobs.append(job)
        return job

    monkeypatch.setattr(history.Background, "start", classmethod(start))
    return jobs


def test_a_failing_site_stops_the_history_and_publishes_nothing(
    repo: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, forking: None
) -> None:
    root, _ = repo
    work = tmp_path / "repo"
    shutil.copytree(root, work)
    out = tmp_path / "public"
    build(work, out, tmp_path / "cache")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    jobs = _started(monkeypatch)
    monkeypatch.setattr(history, "collect", _sleeps)
    (work / "requests" / "broken.yaml").write_text("title: [unclosed\n", "utf-8")
    assert main(["-C", str(work), "build", "-o", str(out), "--cache-dir", str(tmp_path / "cache")]) != 0
    assert len(jobs) == 1
    assert jobs[0].beside
    assert jobs[0]._process is not None
    assert not jobs[0]._process.is_alive()
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_history_process_that_dies_fails_the_build_and_publishes_nothing(
    repo: tuple[Path, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    forking: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, _ = repo
    work = tmp_path / "repo"
    shutil.copytree(root, work)
    out = tmp_path / "public"
    build(work, out, tmp_path / "cache")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    monkeypatch.setattr(history, "collect", _killed)
    capsys.readouterr()
    assert main(["-C", str(work), "build", "-o", str(out), "--cache-dir", str(tmp_path / "cache")]) != 0
    assert "the process reading the catalog's history stopped without finishing (exit code -9)" in (
        capsys.readouterr().err
    )
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.glob(".public.*"))


def test_written_in_worker_processes_the_site_is_the_same(
    repo: tuple[Path, list[str]], built: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, forking: None
) -> None:
    """The history computed beside the build, the history's pages written by one of the processes that
    write the project pages: every file is the one a build in one process writes."""
    from curate import site

    root, _ = repo
    monkeypatch.setattr(site, "workers", lambda n: 2)
    out = tmp_path / "public"
    build(root, out, tmp_path / "cache")

    def tree(folder: Path) -> dict[str, bytes]:
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    mine, theirs = tree(out), tree(built)
    assert sorted(mine) == sorted(theirs)
    assert [k for k in mine if mine[k] != theirs[k] and k != "search/search_index.json"] == []
    assert "changes/3/index.html" not in mine  # three changes: one archive page
    assert "changes/1/index.html" in mine
    assert "<loc>" in mine["sitemap.xml"].decode()
    assert "changes/1/" in mine["sitemap.xml"].decode()


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("guess", ["right", "wrong"])
def test_what_shows_the_history_prepared_beside_is_what_the_build_writes(
    repo: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, forking: None, guess: str
) -> None:
    """A first build: the process that computes the history also renders the archive pages into the file
    cache and makes the api/changes/ files, while the build reads the catalog; the build then renders
    and serialises none of them itself, and every file is the one a build where nothing ran beside
    writes. Made from a wrong guess of what the catalog holds (a project or request it links to), an
    archive page is not found under the key the build looks it up by, and is rendered again, right."""
    from curate import site

    root, _ = repo
    monkeypatch.setattr(history, "PER_PAGE", 1)  # three archive pages
    monkeypatch.setattr(history, "_may_fork", lambda: False)
    plain = tmp_path / "plain"
    build(root, plain, tmp_path / "cache-plain")
    monkeypatch.setattr(history, "_may_fork", lambda: True)
    if guess == "wrong":  # the process beside guesses an empty catalog
        monkeypatch.setattr(site, "_named", lambda root: ([], []))
    real_result = history.Background.result

    def result(self: history.Background) -> history.History:
        if self._process is not None and self._result is None:  # what it prepares is all there
            self._process.join(timeout=60)
        return real_result(self)

    monkeypatch.setattr(history.Background, "result", result)
    rendered = rendered_archive_pages(monkeypatch)  # in this process (the one beside has its own)
    serialised: list[str] = []
    real_page_json, real_package_json = history.page_json, history.package_json

    def page_json(h: history.History, number: int, **kwargs: Any) -> dict[str, Any]:
        serialised.append(f"{number}.json")
        return real_page_json(h, number, **kwargs)

    def package_json(name: str, normalized: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        serialised.append(f"packages/{normalized}.json")
        return real_package_json(name, normalized, *args, **kwargs)

    monkeypatch.setattr(history, "page_json", page_json)
    monkeypatch.setattr(history, "package_json", package_json)
    jobs = _started(monkeypatch)
    out = tmp_path / "public"
    build(root, out, tmp_path / "cache")
    assert len(jobs) == 1
    assert jobs[0].beside
    prepared = jobs[0].prepared()
    assert isinstance(prepared, dict)
    assert sorted(prepared["files"]) == []  # each used once
    assert serialised == []
    # wrong: the pages whose changes link a project or a request (all three here) are rendered again
    assert sorted(rendered) == ([] if guess == "right" else [1, 2, 3])
    mine, theirs = _tree(out), _tree(plain)
    assert sorted(mine) == sorted(theirs)
    assert [k for k in mine if mine[k] != theirs[k] and k != "search/search_index.json"] == []
    assert "changes/3/index.html" in mine
    # a build after it: nothing prepared beside (the history comes from the cache)
    jobs.clear()
    build(root, out, tmp_path / "cache")
    assert jobs[0].prepared() is None


def test_preparing_beside_that_fails_leaves_it_to_the_build(
    repo: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, forking: None
) -> None:
    """What shows the history is only made ahead of the build: when making it beside fails, the build
    makes it all, the same, and does not fail."""
    from curate import site

    root, _ = repo
    plain = tmp_path / "plain"
    build(root, plain, tmp_path / "cache-plain")

    def fails(*args: Any, **kwargs: Any) -> Any:
        raise OSError("the cache is not writable")

    monkeypatch.setattr(site, "prepare_history", fails)
    jobs = _started(monkeypatch)
    out = tmp_path / "public"
    build(root, out, tmp_path / "cache")
    assert jobs[0].beside
    assert jobs[0].prepared() is None
    mine, theirs = _tree(out), _tree(plain)
    assert sorted(mine) == sorted(theirs)
    assert [k for k in mine if mine[k] != theirs[k] and k != "search/search_index.json"] == []
