"""The built site in a real browser, offline (run by `make check-site` and .ci/run).

Every page of the table of contents is opened from ``file://`` in headless
Chromium (Debian's package, driven by Playwright) with every non-``file://``
request refused, so the site is seen as an offline reader sees it. On each
page: MathJax (served by the site itself) has typeset every math element, every
image has loaded, no JavaScript error was raised, and no request left the
machine. Internal links are checked on the HTML: the target file exists and so
does the anchor. Screenshots of two pages go to ``_build/screenshots``.

Nothing a reader needs is cut at a 1280 px wide window: with every folded
block opened, no code line, output line or table column in the article runs
past the edge of a box that scrolls or clips it (``scrollWidth`` beyond
``clientWidth``), no display equation is wider than the column (MathJax 3
does not break equations: split a long one over lines with ``aligned``), and
the page itself does not scroll sideways. The test names the page and the
first cut text; ``test_clip_check_catches_cuts`` shows that a cut code line, output line
and table column are caught.

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
SCREENSHOT_PAGES = {"book/attention/attention-scaling", "book/optimization/mup-unit-scale",
                    "book/intro", "book/graphs/karate-club"}
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


# What a 1280 px window cuts: every box in the article that scrolls or clips
# sideways (overflow-x not `visible`) and whose content is wider than it,
# with folded blocks opened first. For each such box, the first text that
# runs past its right edge, and its kind: a code line, an output line (in a
# cell's output), a table cell, display math (MathJax draws glyphs with CSS,
# so the equation's TeX is named instead) or other text. A page that scrolls
# sideways as a whole is reported too.
CLIP_JS = r"""() => {
  const TOL = 1;
  const article = document.querySelector('article.bd-article') || document.body;
  for (const d of article.querySelectorAll('details')) d.open = true;
  for (const e of article.querySelectorAll('.toggle-hidden')) e.classList.remove('toggle-hidden');
  const tex = new Map();
  if (window.MathJax && MathJax.startup && MathJax.startup.document) {
    for (const item of MathJax.startup.document.math) tex.set(item.typesetRoot, item.math);
  }
  const clean = s => s.replace(/\s+/g, ' ').trim().slice(0, 160);
  const mathText = m => clean(tex.get(m) || m.getAttribute('aria-label') || m.textContent);
  const found = [];
  const boxes = [article, ...article.querySelectorAll('*')];
  for (const box of boxes) {
    if (box.closest('mjx-container') && box.tagName !== 'MJX-CONTAINER') continue;
    const style = getComputedStyle(box);
    if (style.overflowX === 'visible' || style.display === 'none') continue;
    if (box.scrollWidth <= box.clientWidth + TOL) continue;
    const right = box.getBoundingClientRect().left + box.clientLeft + box.clientWidth + TOL;
    const classes = String(box.className || '').trim().split(/\s+/).filter(Boolean);
    const where = [box.tagName.toLowerCase(), ...classes].join('.');
    const over = box.scrollWidth - box.clientWidth;
    let cut = null;
    const maths = box.tagName === 'MJX-CONTAINER' ? [box] : box.querySelectorAll('mjx-container');
    for (const m of maths) {
      if (m === box || m.getBoundingClientRect().right > right) {
        const cell = m.closest('td, th');
        cut = cell ? {kind: 'table', text: clean(cell.textContent)}
                   : {kind: 'math', text: mathText(m)};
        break;
      }
    }
    if (!cut) {
      const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT, {acceptNode: n =>
        (n.textContent.trim() && !n.parentElement.closest('mjx-container'))
          ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_REJECT});
      const range = document.createRange();
      for (let n = walker.nextNode(); n && !cut; n = walker.nextNode()) {
        // the first line of this text node that runs past the edge, if any
        let hit = -1, pos = 0;
        for (const seg of n.textContent.split('\n')) {
          if (seg.trim()) {
            range.setStart(n, pos);
            range.setEnd(n, pos + seg.length);
            if ([...range.getClientRects()].some(r => r.right > right)) { hit = pos; break; }
          }
          pos += seg.length + 1;
        }
        if (hit < 0) continue;
        const el = n.parentElement, pre = el.closest('pre'), cell = el.closest('td, th');
        if (pre) {
          let offset = hit;
          const w2 = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
          for (let t = w2.nextNode(); t && t !== n; t = w2.nextNode())
            offset += t.textContent.length;
          const all = pre.textContent, start = all.lastIndexOf('\n', offset - 1) + 1;
          const end = all.indexOf('\n', offset);
          const line = all.slice(start, end < 0 ? all.length : end);
          cut = {kind: el.closest('.cell_output, .output') ? 'output' : 'code',
                 text: line.trimEnd().slice(0, 160)};
        } else if (cell) {
          cut = {kind: 'table', text: clean(cell.textContent)};
        } else {
          cut = {kind: 'text', text: clean(n.textContent)};
        }
      }
    }
    // MathJax's hidden copy for screen readers overflows some boxes unseen
    if (!cut && box.querySelector('mjx-container')) continue;
    if (!cut) cut = {kind: 'box', text: clean(box.textContent)};
    found.push({...cut, where: where.slice(0, 80), over});
  }
  const page = document.scrollingElement;
  if (page.scrollWidth > page.clientWidth + TOL)
    found.push({kind: 'page', text: 'the page scrolls sideways', where: 'html',
                over: page.scrollWidth - page.clientWidth});
  return found;
}"""


def describe(cut: dict) -> str:
    return f"{cut['kind']} cut by {cut['over']} px in <{cut['where']}>: {cut['text']!r}"


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
    cuts = tab.evaluate(CLIP_JS)
    tab.close()
    assert not broken, f"{page}: images not loaded: {broken}"
    assert not outside, f"{page}: requests leave the machine: {outside[:3]}"
    unexpected = [e for e in errors if e.removeprefix("uncaught: ") not in THEME_ERRORS]
    assert not unexpected, f"{page}: JavaScript errors: {unexpected}"
    assert not cuts, (f"{page}: {len(cuts)} cut at a 1280 px window; first: {describe(cuts[0])}"
                      + "".join(f"\n  {describe(c)}" for c in cuts[1:6]))


# A cut code line, a cut output line and a cut table column, put into a built
# page (so styled by the site's own CSS): the check must name each one. The
# output line is given `white-space: pre` (as without the site's CSS, which
# wraps outputs); the same line without it must wrap and not be reported.
LONG_CODE = "total = " + " + ".join(f"weight_{i} * feature_{i}" for i in range(5))
LONG_OUTPUT = "epoch    " + "   ".join(f"loss[{i}]={0.1 * i:.6f}" for i in range(6))
LONG_CELL = "no_break_" * 14
FIXTURE = f"""
<section id="clip-fixture">
 <div class="solution admonition"><p class="admonition-title">Solution</p><section>
  <div class="cell docutils container">
   <div class="cell_input docutils container"><div class="highlight-ipython3 notranslate">
    <div class="highlight"><pre>x = 1\n{LONG_CODE}\ny = 2</pre></div></div></div>
   <div class="cell_output docutils container"><div class="output stream">
    <div class="highlight"><pre style="white-space: pre; overflow-wrap: normal">{LONG_OUTPUT}</pre>
    </div></div></div>
   <div class="cell_output docutils container"><div class="output stream">
    <div class="highlight"><pre>{LONG_OUTPUT.replace("epoch", "wraps")}</pre></div></div></div>
  </div>
 </section></div>
 <div class="pst-scrollable-table-container"><table class="table">
  <thead><tr><th>part</th><th>answer</th></tr></thead>
  <tbody><tr><td>(a)</td><td style="overflow-wrap: normal">{LONG_CELL}</td></tr></tbody>
 </table></div>
</section>"""


def test_clip_check_catches_cuts(browser):
    page = "book/attention/attention-scaling"
    path = html_path(page)
    assert path.is_file(), f"{path} missing: run `make book` first"
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    tab.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file://", "data:"))
              else r.abort())
    tab.goto(path.as_uri(), wait_until="load")
    sheets = tab.evaluate("() => [...document.styleSheets].map(s => s.href || '')")
    assert any(href.split("?")[0].endswith("_static/dlbook.css") for href in sheets), \
        "_static/dlbook.css is not loaded by the built page"
    tab.evaluate("(html) => document.querySelector('article.bd-article')"
                 ".insertAdjacentHTML('afterbegin', html)", FIXTURE)
    cuts = tab.evaluate(CLIP_JS)
    tab.close()
    by_kind = {c["kind"]: c["text"] for c in reversed(cuts)}
    assert by_kind.get("code") == LONG_CODE, cuts
    assert by_kind.get("output") == LONG_OUTPUT, cuts
    assert by_kind.get("table") == LONG_CELL, cuts
    assert len(LONG_CODE) == len(LONG_OUTPUT) == 120 and len(LONG_CELL) > 120
    assert not any("wraps" in c["text"] for c in cuts), "the site's CSS does not wrap outputs"


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
