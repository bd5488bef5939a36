"""The built site in a real headless Chromium (the system package; Playwright never downloads one).

Served from 127.0.0.1 by a tiny http.server; every request the browser makes is routed through a
handler that fails the test if it is for another host. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

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
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (apt-get install chromium)"),
    pytest.mark.slow,
]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("browser")
    root = build_catalog_repo(base)
    out = base / "public"
    build_site(root, load_config(root), out)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(out))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser_page(served: str) -> Iterator[tuple[object, list[str], list[str]]]:
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    foreign: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})

        def route(route: object) -> None:
            url = route.request.url  # type: ignore[attr-defined]
            if urlsplit(url).hostname != "127.0.0.1":
                foreign.append(url)
                route.abort()  # type: ignore[attr-defined]
            else:
                route.continue_()  # type: ignore[attr-defined]

        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        yield page, errors, foreign
        context.close()
        browser.close()


def _check_clean(errors: list[str], foreign: list[str]) -> None:
    assert errors == []
    assert foreign == []


def test_home_search_package_page_and_matrix(
    served: str, browser_page: tuple[object, list[str], list[str]]
) -> None:
    page, errors, foreign = browser_page
    p: object = page
    p.goto(served)  # type: ignore[attr-defined]
    text = p.inner_text("article")  # type: ignore[attr-defined]
    assert "The catalog holds 8 projects" in text
    assert "http://127.0.0.1:8000/simple/" in text  # the quick start carries the catalog's own URL
    p.screenshot(path=str(ARTIFACTS / "site-home.png"), full_page=True)  # type: ignore[attr-defined]

    p.click("nav.md-nav--primary >> text=Packages")  # type: ignore[attr-defined]
    p.wait_for_selector(".curate-list.curate-ready")  # type: ignore[attr-defined]
    assert p.locator(".curate-rows tr").count() == 8  # type: ignore[attr-defined]
    p.fill(".curate-filter", "wincol")  # type: ignore[attr-defined]
    p.wait_for_function("document.querySelectorAll('.curate-rows tr').length === 1")  # type: ignore[attr-defined]
    row = p.locator(".curate-rows tr").first  # type: ignore[attr-defined]
    assert row.inner_text().split("\t")[:2] == ["wincolor", "0.4"]
    assert "Windows" in row.locator(".curate-os-cell").inner_text()
    p.screenshot(path=str(ARTIFACTS / "site-packages-filtered.png"), full_page=True)  # type: ignore[attr-defined]

    p.fill(".curate-filter", "")  # type: ignore[attr-defined]
    p.select_option(".curate-os-filter", "macos")  # type: ignore[attr-defined]
    p.wait_for_function("!document.querySelector('.curate-rows tr[data-name=\"linuxonly\"]')")  # type: ignore[attr-defined]
    names = p.locator(".curate-rows tr").evaluate_all("rows => rows.map(r => r.dataset.name)")  # type: ignore[attr-defined]
    assert "maconly" in names and "wincolor" not in names

    p.select_option(".curate-os-filter", "")  # type: ignore[attr-defined]
    p.fill(".curate-filter", "webapp")  # type: ignore[attr-defined]
    p.wait_for_function("document.querySelectorAll('.curate-rows tr').length === 1")  # type: ignore[attr-defined]
    p.click(".curate-rows a >> text=webapp")  # type: ignore[attr-defined]
    p.wait_for_selector("#matrix")  # type: ignore[attr-defined]
    assert p.title().startswith("webapp - ")  # type: ignore[attr-defined]
    heads = p.locator("#matrix thead tr").first.locator("th").all_inner_texts()  # type: ignore[attr-defined]
    assert heads == ["Version", "Linux", "Windows", "macOS"]
    versions = p.locator("#matrix tbody tr").evaluate_all("rows => rows.map(r => r.dataset.version)")  # type: ignore[attr-defined]
    assert versions == ["2.0", "1.0"]
    cells = p.locator("#matrix tbody tr").first.locator("td").all_inner_texts()  # type: ignore[attr-defined]
    assert set(cells) == {"✓"}  # pure Python: every target
    facts = p.inner_text(".curate-facts")  # type: ignore[attr-defined]
    assert "MIT" in facts and "https://webapp.upstream.example/" in facts
    p.screenshot(path=str(ARTIFACTS / "site-package-webapp.png"), full_page=True)  # type: ignore[attr-defined]

    # a Windows-only wheel: ✓ under Windows only
    p.click("text=wincolor")  # type: ignore[attr-defined]
    p.wait_for_selector("#matrix")  # type: ignore[attr-defined]
    marks = p.locator("#matrix tbody tr").first.locator("td").evaluate_all(  # type: ignore[attr-defined]
        "tds => tds.map(td => td.className)"
    )
    targets = p.locator("#matrix thead tr").nth(2).locator("th").evaluate_all(  # type: ignore[attr-defined]
        "ths => ths.map(th => th.dataset.target)"
    )
    available = {t for t, m in zip(targets, marks, strict=True) if m == "curate-y"}
    assert available and all(t.startswith("windows-") for t in available)
    assert "as a dependency of webapp" in p.inner_text("#requests + ul")  # type: ignore[attr-defined]
    p.screenshot(path=str(ARTIFACTS / "site-package-wincolor.png"), full_page=True)  # type: ignore[attr-defined]
    _check_clean(errors, foreign)


def test_windows_page_lists_windows_only_not_linux_only(
    served: str, browser_page: tuple[object, list[str], list[str]]
) -> None:
    page, errors, foreign = browser_page
    p: object = page
    p.goto(served + "os/windows/")  # type: ignore[attr-defined]
    p.wait_for_selector(".curate-list.curate-ready")  # type: ignore[attr-defined]
    names = p.locator(".curate-rows tr").evaluate_all("rows => rows.map(r => r.dataset.name)")  # type: ignore[attr-defined]
    assert "wincolor" in names
    assert "linuxonly" not in names and "maconly" not in names
    p.screenshot(path=str(ARTIFACTS / "site-os-windows.png"), full_page=True)  # type: ignore[attr-defined]
    p.goto(served + "os/linux/")  # type: ignore[attr-defined]
    p.wait_for_selector(".curate-list.curate-ready")  # type: ignore[attr-defined]
    names = p.locator(".curate-rows tr").evaluate_all("rows => rows.map(r => r.dataset.name)")  # type: ignore[attr-defined]
    assert "linuxonly" in names and "wincolor" not in names
    _check_clean(errors, foreign)


def test_script_in_a_justification_does_not_run(
    served: str, browser_page: tuple[object, list[str], list[str]]
) -> None:
    page, errors, foreign = browser_page
    p: object = page
    for path in ("requests/", "packages/httpish/", "packages/webapp/"):
        p.goto(served + path)  # type: ignore[attr-defined]
        p.wait_for_load_state("load")  # type: ignore[attr-defined]
        assert p.evaluate(f"typeof window.{XSS_FLAG}") == "undefined", path  # type: ignore[attr-defined]
    p.goto(served + "requests/")  # type: ignore[attr-defined]
    text = p.inner_text("article")  # type: ignore[attr-defined]
    assert f"<script>window.{XSS_FLAG} = 1</script>" in text
    assert "**not bold**" in text
    assert "Web tools for the <i>platform</i> team" in text
    assert p.locator("article script").count() == 0  # type: ignore[attr-defined]
    p.screenshot(path=str(ARTIFACTS / "site-requests.png"), full_page=True)  # type: ignore[attr-defined]
    _check_clean(errors, foreign)
