"""The built site in a real browser, offline (run by `make check-site` and .ci/run).

Every page of the table of contents is opened from ``file://`` in headless
Chromium (Debian's package, driven by Playwright) with every non-``file://``
request refused, so the site is seen as an offline reader sees it. On each
page: MathJax (served by the site itself) has typeset every math element, every
image has loaded, no JavaScript error was raised, and no request left the
machine. Internal links are checked on the HTML: the target file exists and so
does the anchor. Screenshots of two pages go to ``_build/screenshots``.

Without Chromium the browser checks are skipped, unless
``DLBOOK_REQUIRE_BROWSER=1`` (set by .ci/run, which installs Chromium), where
they fail.
"""

import functools
import os
import pathlib
import shutil
import sys
import urllib.parse

import pytest
from bs4 import BeautifulSoup

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from sitecheck import toc_files  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
PAGES = toc_files(ROOT)
SCREENSHOT_PAGES = {"book/attention/attention-scaling", "book/optimization/mup-unit-scale"}
CHROMIUM = (shutil.which("chromium") or shutil.which("chromium-browser")
            or shutil.which("google-chrome"))
# Two console errors that the theme itself raises on every page, whatever the
# content: sphinx-book-theme and sphinx-thebe both declare THEBE_JS_URL (a
# harmless `const` redeclaration), and pydata-sphinx-theme finds no stored
# light/dark choice under file://. Any other console error fails the page.
THEME_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",
                "Got invalid theme mode: . Resetting to auto.")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic"]


def html_path(page: str) -> pathlib.Path:
    return HTML / f"{page}.html"


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("DLBOOK_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (DLBOOK_REQUIRE_BROWSER=1) but not installed")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_offline(browser, page):
    path = html_path(page)
    assert path.is_file(), f"{path} missing: run `make book` first"
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, outside = [], []
    tab.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    def route(request_route):
        url = request_route.request.url
        if url.startswith("file://") or url.startswith("data:"):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    tab.route("**/*", route)
    tab.goto(path.as_uri(), wait_until="load")
    math = tab.evaluate("() => document.querySelectorAll('.math').length")
    if math:
        tab.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                              timeout=20_000)
        tab.evaluate("() => MathJax.startup.promise")
        raw = tab.evaluate("""() => Array.from(document.querySelectorAll('.math'))
            .filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 60))""")
        assert not raw, f"{page}: math left as TeX: {raw[:3]}"
    broken = tab.evaluate("""() => Array.from(document.images)
        .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)""")
    if page in SCREENSHOT_PAGES:
        SHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SHOTS / f"{page.replace('/', '__')}.png"))
    tab.close()
    assert not broken, f"{page}: images not loaded: {broken}"
    assert not outside, f"{page}: requests leave the machine: {outside[:3]}"
    unexpected = [e for e in errors if e.removeprefix("uncaught: ") not in THEME_ERRORS]
    assert not unexpected, f"{page}: JavaScript errors: {unexpected}"


@functools.lru_cache(maxsize=None)
def anchors(path: pathlib.Path) -> frozenset[str]:
    soup = BeautifulSoup(path.read_text(), "html.parser")
    return frozenset(tag["id"] for tag in soup.find_all(id=True))


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_resolve(page):
    path = html_path(page)
    soup = BeautifulSoup(path.read_text(), "html.parser")
    dead = []
    for link in soup.find_all("a", href=True):
        href = link["href"]
        parts = urllib.parse.urlsplit(href)
        if parts.scheme or href.startswith(("mailto:", "javascript:")):
            continue
        target = (path.parent / urllib.parse.unquote(parts.path)).resolve() if parts.path else path
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            dead.append(href)
        elif parts.fragment and target.suffix == ".html" and parts.fragment not in anchors(target):
            dead.append(href)
    assert not dead, f"{page}: dead internal links: {dead[:5]}"
