"""The built site in a real headless Chromium (the system package; Playwright never downloads one).

Served from 127.0.0.1 by a tiny http.server; every request the browser makes is routed through a
handler that fails the test if it is for another host. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, sync_playwright

from curate.config import load_config
from curate.site import build_site
from tests.conftest import REPO
from tests.sitecatalog import XSS_FLAG, build_catalog_repo

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (apt-get install chromium)"
    ),
    pytest.mark.slow,
]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("browser")
    root = build_catalog_repo(base)
    git_env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "The catalog <b>x</b>"]):
        subprocess.run(["git", "-C", str(root), *args], env=git_env, check=True, capture_output=True)
    out = base / "public"
    build_site(root, load_config(root), out, env=git_env, cache_dir=base / "cache")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(out)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser_page(served: str) -> Iterator[tuple[Page, list[str], list[str]]]:
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    foreign: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})

        def route(route: Route) -> None:
            url = route.request.url
            if urlsplit(url).hostname != "127.0.0.1":
                foreign.append(url)
                route.abort()
            else:
                route.continue_()

        context.route("**/*", route)
        page = context.new_page()
        page.on(
            "console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        )
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        yield page, errors, foreign
        context.close()
        browser.close()


def _check_clean(errors: list[str], foreign: list[str]) -> None:
    assert errors == []
    assert foreign == []


def test_home_search_package_page_and_matrix(
    served: str, browser_page: tuple[Page, list[str], list[str]]
) -> None:
    page, errors, foreign = browser_page
    p = page
    p.goto(served)
    text = p.inner_text("article")
    assert "The catalog holds 8 projects" in text
    assert "http://127.0.0.1:8000/simple/" in text  # the quick start carries the catalog's own URL
    p.screenshot(path=str(ARTIFACTS / "site-home.png"), full_page=True)

    p.click("nav.md-nav--primary >> text=Packages")
    p.wait_for_selector(".curate-list.curate-ready")
    assert p.locator(".curate-rows tr").count() == 8
    p.fill(".curate-filter", "wincol")
    p.wait_for_function("document.querySelectorAll('.curate-rows tr').length === 1")
    row = p.locator(".curate-rows tr").first
    assert row.inner_text().split("\t")[:2] == ["wincolor", "0.4"]
    assert "Windows" in row.locator(".curate-os-cell").inner_text()
    p.screenshot(path=str(ARTIFACTS / "site-packages-filtered.png"), full_page=True)

    p.fill(".curate-filter", "")
    p.select_option(".curate-os-filter", "macos")
    p.wait_for_function("!document.querySelector('.curate-rows tr[data-name=\"linuxonly\"]')")
    names = p.locator(".curate-rows tr").evaluate_all("rows => rows.map(r => r.dataset.name)")
    assert "maconly" in names
    assert "wincolor" not in names

    p.select_option(".curate-os-filter", "")
    p.fill(".curate-filter", "webapp")
    p.wait_for_function("document.querySelectorAll('.curate-rows tr').length === 1")
    p.click(".curate-rows a >> text=webapp")
    p.wait_for_selector("#matrix")
    assert p.title().startswith("webapp - ")
    heads = p.locator("#matrix thead tr").first.locator("th").all_inner_texts()
    assert heads == ["Version", "Linux", "Windows", "macOS"]
    versions = p.locator("#matrix tbody tr").evaluate_all("rows => rows.map(r => r.dataset.version)")
    assert versions == ["2.0", "1.0"]
    cells = p.locator("#matrix tbody tr").first.locator("td").all_inner_texts()
    assert set(cells) == {"✓"}  # pure Python: every target
    facts = p.inner_text(".curate-facts")
    assert "MIT" in facts
    assert "https://webapp.upstream.example/" in facts
    p.screenshot(path=str(ARTIFACTS / "site-package-webapp.png"), full_page=True)

    # a Windows-only wheel: ✓ under Windows only
    p.click("text=wincolor")
    p.wait_for_selector("#matrix")
    marks = (
        p.locator("#matrix tbody tr").first.locator("td").evaluate_all("tds => tds.map(td => td.className)")
    )
    targets = (
        p.locator("#matrix thead tr")
        .nth(2)
        .locator("th")
        .evaluate_all("ths => ths.map(th => th.dataset.target)")
    )
    available = {t for t, m in zip(targets, marks, strict=True) if m == "curate-y"}
    assert available
    assert all(t.startswith("windows-") for t in available)
    assert "as a dependency of webapp" in p.inner_text("#requests + ul")
    p.screenshot(path=str(ARTIFACTS / "site-package-wincolor.png"), full_page=True)
    _check_clean(errors, foreign)


def test_windows_page_lists_windows_only_not_linux_only(
    served: str, browser_page: tuple[Page, list[str], list[str]]
) -> None:
    page, errors, foreign = browser_page
    p = page
    p.goto(served + "os/windows/")
    p.wait_for_selector(".curate-list.curate-ready")
    names = p.locator(".curate-rows tr").evaluate_all("rows => rows.map(r => r.dataset.name)")
    assert "wincolor" in names
    assert "linuxonly" not in names
    assert "maconly" not in names
    p.screenshot(path=str(ARTIFACTS / "site-os-windows.png"), full_page=True)
    p.goto(served + "os/linux/")
    p.wait_for_selector(".curate-list.curate-ready")
    names = p.locator(".curate-rows tr").evaluate_all("rows => rows.map(r => r.dataset.name)")
    assert "linuxonly" in names
    assert "wincolor" not in names
    _check_clean(errors, foreign)


def test_script_in_a_justification_does_not_run(
    served: str, browser_page: tuple[Page, list[str], list[str]]
) -> None:
    page, errors, foreign = browser_page
    p = page
    for path in ("requests/", "packages/httpish/", "packages/webapp/", "changes/", "changes/1/"):
        p.goto(served + path)
        p.wait_for_load_state("load")
        assert p.evaluate(f"typeof window.{XSS_FLAG}") == "undefined", path
    p.goto(served + "requests/")
    text = p.inner_text("article")
    assert f"<script>window.{XSS_FLAG} = 1</script>" in text
    assert "**not bold**" in text
    assert "Web tools for the <i>platform</i> team" in text
    assert p.locator("article script").count() == 0
    p.screenshot(path=str(ARTIFACTS / "site-requests.png"), full_page=True)
    p.goto(served + "changes/")
    text = p.inner_text("article")
    assert "Request added: Web tools for the <i>platform</i> team" in text
    assert "The catalog <b>x</b>" in text
    assert "Entered the catalog" in text
    assert p.locator("article script").count() == 0
    p.screenshot(path=str(ARTIFACTS / "site-changes.png"), full_page=True)
    _check_clean(errors, foreign)
