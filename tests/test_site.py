"""The catalog site: generated pages, escaping, air-gapped output, linear structure, strict mkdocs builds."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from curate.catalog import VersionEntry, load_catalog, load_project, write_project
from curate.config import load_config
from curate.errors import BuildError
from curate.site import build_site, filesize, safe_url
from curate.vetting import VettingRecord
from tests.catalogs import make_repo
from tests.conftest import REPO
from tests.sitecatalog import REQUEST_ID, XSS_FLAG, build_catalog_repo


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("site")
    root = build_catalog_repo(base)
    out = base / "public"
    build_site(root, load_config(root), out, env=os.environ)
    return root, out


def _blocked(v: VersionEntry) -> VersionEntry:
    """The version as if vetting had blocked it."""
    record = v.vetting or VettingRecord(status="pass")
    return dataclasses.replace(v, vetting=dataclasses.replace(record, status="block"))


def _html(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text("utf-8") for p in out.rglob("*.html")}


def test_generated_pages_exist(built: tuple[Path, Path]) -> None:
    _, out = built
    for page in (
        "index.html",
        "packages/index.html",
        "packages/index.json",
        "os/index.html",
        "os/linux/index.html",
        "os/windows/index.html",
        "os/macos/index.html",
        "os/windows.json",
        "requests/index.html",
        "packages/webapp/index.html",
        "packages/wincolor/index.html",
        "guides/index.html",
        "reference/index.html",
        "guides/configure-clients/index.html",
        "guides/proxies/index.html",
        "guides/troubleshooting/index.html",
        "guides/reviewing/index.html",
        "assets/curate.js",
    ):
        assert (out / page).is_file(), page
    assert not (out / "packages" / "_shell").exists()


def test_section_pages_lead_to_their_pages(built: tuple[Path, Path]) -> None:
    """/os/, /guides/ and /reference/ are pages, not 404s, and link to what is in them."""
    _, out = built
    os_index = (out / "os" / "index.html").read_text("utf-8")
    assert "<title>Operating systems - Example Corp Python catalog</title>" in os_index
    assert '<tr data-os="windows"><td><a href="windows/">Windows</a></td><td>AMD64</td><td>' in os_index
    # what is served: newpy is not vetted yet, so neither its 2 versions nor its files count
    assert '<a href="linux/">Linux</a></td><td>x86_64, aarch64</td><td>5</td><td>6</td><td>6</td>' in os_index
    guides = (out / "guides" / "index.html").read_text("utf-8")
    for page in ("configure-clients", "proxies", "troubleshooting", "requesting", "importing", "gitops"):
        assert f'href="../{page}/"' in guides or f'href="{page}/"' in guides, page
    assert "http://127.0.0.1:8000/simple/" in guides  # placeholders filled
    reference = (out / "reference" / "index.html").read_text("utf-8")
    assert 'href="lock/"' in reference or 'href="../lock/"' in reference


def test_no_page_carries_the_list_of_all_projects(built: tuple[Path, Path]) -> None:
    _, out = built
    for rel, text in _html(out).items():
        if rel.startswith("packages/") and rel != "packages/index.html":
            continue
        # the navigation lists no package page; list pages load JSON instead
        assert 'href="packages/maconly/"' not in text, rel
        assert "../maconly/" not in text, rel
    index = json.loads((out / "packages" / "index.json").read_text("utf-8"))
    assert index["fields"] == ["name", "latest", "summary", "license", "os", "status"]
    rows = {r[0]: r for r in index["rows"]}
    assert rows["wincolor"][4] == 0b010
    assert rows["linuxonly"][4] == 0b001
    assert rows["webapp"][1:4] == ["2.0", "A web framework <b>not bold</b>", "MIT"]
    windows = {r[0] for r in json.loads((out / "os" / "windows.json").read_text("utf-8"))["rows"]}
    assert "wincolor" in windows
    assert "linuxonly" not in windows


def test_package_page(built: tuple[Path, Path]) -> None:
    _, out = built
    page = (out / "packages" / "httpish" / "index.html").read_text("utf-8")
    assert "<title>httpish - Example Corp Python catalog</title>" in page
    assert 'rel="canonical" href="http://127.0.0.1:8000/packages/httpish/"' in page
    assert "pip install --index-url http://127.0.0.1:8000/simple/ httpish" in page
    assert 'as a dependency of <a href="../webapp/">webapp</a>' in page
    assert '<a href="../certy/">certy</a>' in page  # dependency
    assert "GHSA-xxxx-yyyy-zzzz" in page
    assert "Waived</strong> until 2099-01-31: Only used against internal hosts" in page
    assert (
        'licence MIT <span class="curate-muted">(from License-Expression)</span> · vetted on 2026-06-01'
        in page
    )
    certy = (out / "packages" / "certy" / "index.html").read_text("utf-8")
    assert '<a href="../httpish/">httpish</a>' in certy  # dependent
    newpy = (out / "packages" / "newpy" / "index.html").read_text("utf-8")
    assert "not vetted yet" in newpy


def test_text_from_requests_and_metadata_is_escaped(built: tuple[Path, Path]) -> None:
    _, out = built
    for rel, text in _html(out).items():
        assert f"window.{XSS_FLAG} = 1</script>" not in text, rel
        assert "onerror=" not in text.replace("onerror=&#34;", "").replace("onerror=&quot;", ""), rel
        assert "<b>not bold</b>" not in text, rel
        assert 'href="javascript:' not in text, rel
    requests = (out / "requests" / "index.html").read_text("utf-8")
    assert f"&lt;script&gt;window.{XSS_FLAG} = 1&lt;/script&gt;" in requests
    assert "**not bold**" in requests  # not read as Markdown either
    assert "Web tools for the &lt;i&gt;platform&lt;/i&gt; team" in requests
    assert requests.index(f'id="{REQUEST_ID}"') < requests.index('id="2026-02-01-linux-batch"')


def test_placeholders_are_filled(built: tuple[Path, Path]) -> None:
    _, out = built
    for rel, text in _html(out).items():
        assert "curate-slot" not in text, rel
        if rel == "reference/site/index.html":  # documents the placeholders, escaped
            assert "<code>{{ base_url }}</code>" in text
            continue
        assert "{{ simple_url }}" not in text, rel
        assert "{{ base_url }}" not in text, rel
    clients = (out / "guides" / "configure-clients" / "index.html").read_text("utf-8")
    text = re.sub(r"<[^>]+>", "", clients)  # code is highlighted: tags between the words
    assert "pip install --index-url http://127.0.0.1:8000/simple/ PACKAGE" in text
    trouble = (out / "guides" / "troubleshooting" / "index.html").read_text("utf-8")
    assert "<code>http://USER:TOKEN@127.0.0.1:8000/simple/</code>" in trouble  # scheme and port kept
    home = (out / "index.html").read_text("utf-8")
    assert "The catalog holds <strong>8</strong> projects" in home
    assert "Last changed <strong>2026-03-04</strong>" in home  # no git here: the newest request


ATTR_URL = re.compile(r"""(?:src|srcset|data|poster|action)\s*=\s*["']?\s*(https?:)?//""", re.I)
LINK_TAG = re.compile(r"<link\b[^>]*>", re.I)
CSS_URL = re.compile(r"""(?:@import\s*(?:url\()?|url\()\s*["']?\s*(https?:)?//""", re.I)


def test_air_gapped_no_resources_from_other_hosts(built: tuple[Path, Path]) -> None:
    _, out = built
    bad = []
    for path in out.rglob("*"):
        if path.suffix not in (".html", ".css", ".js"):
            continue
        text = path.read_text("utf-8", errors="replace")
        rel = str(path.relative_to(out))
        if path.suffix == ".html":
            bad += [f"{rel}: {m[0]}" for m in ATTR_URL.finditer(text)]
            for tag in LINK_TAG.findall(text):
                if re.search(r"""href\s*=\s*["']?(https?:)?//""", tag) and "canonical" not in tag:
                    bad.append(f"{rel}: {tag}")
            bad += [f"{rel}: {m[0]}" for m in CSS_URL.finditer(text)]
        elif path.suffix == ".css":
            bad += [f"{rel}: {m[0]}" for m in CSS_URL.finditer(text)]
    assert bad == []
    assert not list(out.rglob("*.woff*"))


def test_sitemap_lists_package_pages_not_the_shell(built: tuple[Path, Path]) -> None:
    _, out = built
    sitemap = (out / "sitemap.xml").read_text("utf-8")
    assert "http://127.0.0.1:8000/packages/wincolor/" in sitemap
    assert "_shell" not in sitemap
    search = (out / "search" / "search_index.json").read_text("utf-8")
    assert "packages/wincolor/" not in search


def test_build_is_deterministic(built: tuple[Path, Path], tmp_path: Path) -> None:
    root, out = built
    again = tmp_path / "again"
    build_site(root, load_config(root), again, env=os.environ)
    first = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    second = {str(p.relative_to(again)): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []


def test_repository_without_mkdocs_yml(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    build_site(root, load_config(root), tmp_path / "out", env=os.environ)
    assert "Python catalog" in (tmp_path / "out" / "index.html").read_text("utf-8")
    assert (tmp_path / "out" / "packages" / "index.json").is_file()


def test_a_version_blocked_by_vetting_is_not_shown_as_installable(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    """The index leaves it out (the project is quarantined); the site must not offer it either."""
    root, _ = built
    copy = tmp_path / "repo"
    shutil.copytree(root, copy)
    path = copy / "catalog" / "packages" / "certy.yaml"
    project = load_project(path)
    versions = tuple(_blocked(v) for v in project.versions)
    write_project(copy, dataclasses.replace(project, versions=versions))
    out = tmp_path / "out"
    build_site(copy, load_config(copy), out, env=os.environ)
    rows = {r[0]: r for r in json.loads((out / "packages" / "index.json").read_text("utf-8"))["rows"]}
    assert (rows["certy"][4], rows["certy"][5]) == (0, "block")
    for os_name in ("linux", "windows", "macos"):
        listed = {r[0] for r in json.loads((out / "os" / f"{os_name}.json").read_text("utf-8"))["rows"]}
        assert "certy" not in listed, os_name
        assert "webapp" in listed, os_name
    page = (out / "packages" / "certy" / "index.html").read_text("utf-8")
    assert '<td class="curate-y">' not in page
    assert '<td class="curate-n">' in page
    home = (out / "index.html").read_text("utf-8")
    assert "The catalog holds <strong>8</strong> projects" in home  # still in the catalog, not on any OS
    assert '<a href="os/linux/">Linux</a></td><td>4</td><td>5</td><td>5</td>' in home  # newpy: not vetted


def test_generated_page_collision_is_an_error(built: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = built
    copy = tmp_path / "repo"
    shutil.copytree(root, copy)
    (copy / "site" / "requests.md").write_text("# mine\n", "utf-8")
    with pytest.raises(BuildError, match=r"requests\.md is generated from the catalog"):
        build_site(copy, load_config(copy), tmp_path / "out", env=os.environ)


def test_mkdocs_build_strict_of_this_repository(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "out")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "packages" / "index.json").is_file()
    # the plugin computed the history beside mkdocs and wrote what shows it at the end
    changes = (tmp_path / "out" / "changes" / "index.html").read_text("utf-8")
    assert "curate-slot" not in changes
    assert 'class="curate-history-entry"' in changes
    assert json.loads((tmp_path / "out" / "api" / "changes" / "index.json").read_bytes())["state"] != "none"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/x", "https://example.org/x"),
        ("http://example.org", "http://example.org"),
        ("javascript:alert(1)", ""),
        ("JaVaScRiPt:alert(1)", ""),
        ("data:text/html,<script>", ""),
        ("//example.org", ""),
        ("/relative", ""),
        ("", ""),
        (None, ""),
        ("https://[::1", ""),
    ],
)
def test_safe_url(url: object, expected: str) -> None:
    assert safe_url(url) == expected


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (64928, "64.9 kB"), (5_300_000, "5.3 MB")]
)
def test_filesize(n: int, text: str) -> None:
    assert filesize(n) == text


def test_latest_is_the_newest_version_the_index_serves(built: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = built
    copy = tmp_path / "repo"
    shutil.copytree(root, copy)
    project = next(
        p for p in load_catalog(copy).values() if len(p.versions) > 1 and all(v.vetting for v in p.versions)
    )
    older, newest = (v.version for v in project.sorted_versions()[-2:])
    versions = tuple(_blocked(v) if v.version == newest else v for v in project.versions)
    write_project(copy, dataclasses.replace(project, versions=versions))
    out = tmp_path / "out"
    build_site(copy, load_config(copy), out, env=os.environ)
    rows = {r[0]: r for r in json.loads((out / "packages" / "index.json").read_text("utf-8"))["rows"]}
    assert rows[project.name][1] == older  # an unpinned install gets this one, not the blocked one
    page = (out / "packages" / project.normalized / "index.html").read_text("utf-8")
    assert f"<tr><th>Latest version</th><td>{older}</td></tr>" in page


def test_last_changed_is_the_last_commit_date_with_the_environment_given(tmp_path: Path) -> None:
    from curate.site import last_changed

    root = tmp_path / "repo"
    (root / "catalog").mkdir(parents=True)
    (root / "catalog" / "config.yaml").write_text("x: 1\n", "utf-8")
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
        "GIT_COMMITTER_DATE": "2024-05-06T07:08:09Z",
    }
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git", "-C", str(root), *args], env=env, check=True, capture_output=True)
    assert last_changed(root, [], env=env) == "2024-05-06"
    assert last_changed(root, [], env={**env, "GIT_DIR": str(tmp_path / "nowhere")}) == ""  # git cannot tell


# -- the site's name is data too (issue 13, item 10) -------------------------------------------------------

HOSTILE_NAME = (
    f'Corp</title><script>window.{XSS_FLAG}=5</script><img src=x onerror="window.{XSS_FLAG}=6"> '
    '**bold** [link](https://evil.example) `code` & "quoted" <!-- comment'
)


@pytest.mark.parametrize("with_mkdocs_yml", [True, False])
def test_a_hostile_site_name_is_text_on_every_page(tmp_path: Path, with_mkdocs_yml: bool) -> None:
    import html5lib

    root = build_catalog_repo(tmp_path)
    if not with_mkdocs_yml:  # the fallback config and the default home page
        (root / "mkdocs.yml").unlink()
        shutil.rmtree(root / "site")
    config = root / "catalog" / "config.yaml"
    text = config.read_text("utf-8")
    config.write_text(
        re.sub(r"(?m)^  name: .*$", lambda _: f"  name: {json.dumps(HOSTILE_NAME)}", text), "utf-8"
    )
    out = tmp_path / "public"
    build_site(root, load_config(root), out, env=os.environ)
    pages = _html(out)
    assert "index.html" in pages
    for path, page in pages.items():
        doc = html5lib.parse(page, namespaceHTMLElements=False)
        scripts = [el.text or "" for el in doc.iter("script")]
        assert not [s for s in scripts if XSS_FLAG in s], path
        assert not [el.attrib for el in doc.iter() if any(k.startswith("on") for k in el.attrib)], path
        assert not [el for el in doc.iter("img") if el.get("src") == "x"], path
        title = doc.find(".//title")
        assert title is not None
        assert (title.text or "").endswith(HOSTILE_NAME), path  # shown as written, in full
        for el in doc.iter("a"):
            assert el.get("href") != "https://evil.example", path
            if "md-logo" in el.get("class", ""):
                assert el.get("aria-label") == HOSTILE_NAME, path
    home = html5lib.parse(pages["index.html"], namespaceHTMLElements=False)
    h1 = home.find(".//h1")
    assert h1 is not None
    assert (h1.text or "").strip() == HOSTILE_NAME.strip()  # then only the theme's permalink


def test_the_site_says_when_known_vulnerabilities_were_not_checked(built: tuple[Path, Path]) -> None:
    """The fixture's records name no advisory source: the home page and every package page say so
    (issue 13, item 15); a version checked against one says which."""
    _, out = built
    home = (out / "index.html").read_text("utf-8")
    assert "<strong>Known vulnerabilities: not checked</strong> for 8 of the 8 served versions:" in home
    assert "<strong>2</strong> versions are in the catalog but not served" in home
    page = (out / "packages" / "webapp" / "index.html").read_text("utf-8")
    assert "<tr><th>Known vulnerabilities</th><td><strong>not checked</strong></td></tr>" in page
    assert "· known vulnerabilities: not checked</p>" in page


def test_a_checked_catalog_says_against_what(tmp_path: Path) -> None:
    root = build_catalog_repo(tmp_path)
    for project in load_catalog(root).values():
        versions = tuple(
            dataclasses.replace(
                v,
                vetting=dataclasses.replace(v.vetting or VettingRecord(status="pass"), advisories="osv-dir"),
            )
            for v in project.versions
        )
        write_project(root, dataclasses.replace(project, versions=versions))
    out = tmp_path / "public"
    build_site(root, load_config(root), out, env=os.environ)
    home = (out / "index.html").read_text("utf-8")
    assert "Known vulnerabilities: checked for every served version (advisories: osv-dir)." in home
    page = (out / "packages" / "webapp" / "index.html").read_text("utf-8")
    assert "<tr><th>Known vulnerabilities</th><td>checked (osv-dir)</td></tr>" in page


def _everything(out: Path) -> str:
    return "\n".join(
        p.read_text("utf-8", "replace")
        for p in sorted(out.rglob("*"))
        if p.suffix in (".html", ".json", ".xml")
    )


def test_requesters_are_not_published_by_default(built: tuple[Path, Path]) -> None:
    """site.show_requesters is false unless the config says otherwise: no address on any page, in the
    search index or in api/; the justification is shown (site.show_justifications defaults to true)."""
    _, out = built
    text = _everything(out)
    for address in ("platform@example.com", "batch@example.com"):
        assert not re.search(rf"(?<![\w.-]){re.escape(address)}", text), address
    requests = (out / "requests" / "index.html").read_text("utf-8")
    assert "Requested by" not in requests
    assert "Who asked is not published here" in requests
    assert "internal-use" in requests  # compliance tags go with the justification
    assert "The nightly batch jobs on the Linux cluster need this helper." in requests


def test_show_requesters_and_hide_justifications(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from curate.cli import main

    root = build_catalog_repo(tmp_path)
    config = root / "catalog" / "config.yaml"
    text = re.sub(r"(?m)^  show_(requesters|justifications):.*\n", "", config.read_text("utf-8"))
    config.write_text(
        text.replace("  base_url:", "  show_requesters: true\n  show_justifications: false\n  base_url:"),
        "utf-8",
    )
    assert main(["-C", str(root), "build", "--site-only", "--output", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "site.show_requesters is true and publish.pages is a target" in err
    out = tmp_path / "out"
    requests = (out / "requests" / "index.html").read_text("utf-8")
    assert "<th>Requested by</th><td>batch@example.com</td>" in requests
    assert "The nightly batch jobs" not in _everything(out)
    assert "internal-use" not in requests
    webapp = (out / "packages" / "webapp" / "index.html").read_text("utf-8")
    assert "by platform@example.com" in webapp
    assert "curate-justification" not in webapp
