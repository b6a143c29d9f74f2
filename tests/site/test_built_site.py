"""Checks of the built site (run after `make book`, by `make check-site` and .ci/run).

Every page of the table of contents exists as HTML; every page with code cells
has an executed notebook in the execution cache that matches its current code;
no output (in that notebook or in the HTML) holds a traceback, an exception
message or a warning; every glue key used in a page's prose was glued by it;
every image has an alt text that describes it (not its file name), and no
page's text holds an emoji (fonts without emoji show a box).
Outputs are read as the build shows them (see sitecheck.py), so a page taken
from the cache after a prose-only edit is checked too.

DLBOOK_BUILD_DIR names another build folder than _build (one built with
``jupyter-book build . --path-output DIR``: DIR/_build).
"""

import os
import pathlib
import re
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from sitecheck import (execute, executed_notebook, glue_keys, has_code_cells,  # noqa: E402
                       html_output_problems, output_problems, toc_files)

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("DLBOOK_BUILD_DIR", ROOT / "_build"))
HTML = BUILD / "html"
CACHE = BUILD / ".jupyter_cache"
PAGES = toc_files(ROOT)
EXECUTABLE = [page for page in PAGES if has_code_cells(ROOT / f"{page}.md")]
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`]+)`")


def test_site_was_built():
    assert (HTML / "index.html").is_file(), "no _build/html: run `make book` first"
    assert EXECUTABLE, "no chapter has code cells"


@pytest.mark.parametrize("page", PAGES)
def test_every_toc_page_has_html_without_error_outputs(page):
    html = HTML / f"{page}.html"
    assert html.is_file(), f"{page} is in _toc.yml but was not built"
    assert not html_output_problems(html.read_text()), page


@pytest.mark.parametrize("page", EXECUTABLE)
def test_executed_outputs_hold_no_errors_or_warnings(page):
    notebook = executed_notebook(ROOT / f"{page}.md", CACHE)
    assert notebook is not None, f"{page} has code cells but no cached execution of its current code"
    problems = output_problems(notebook)
    assert not problems, f"{page}: {problems}"


@pytest.mark.parametrize("page", PAGES)
def test_every_glue_key_used_was_glued(page):
    """Each glue role's key was glued by its page, or, for a role that names
    another page (``{glue:text}`systems/gpu-memory.md::key:.1f```, relative
    to the page's folder), by that page."""
    source = ROOT / f"{page}.md"
    used: dict[pathlib.Path, set[str]] = {}
    for m in GLUE_ROLE.finditer(source.read_text()):
        other, _, key = m.group(1).rpartition("::")
        glued_by = (source.parent / other).resolve() if other else source
        used.setdefault(glued_by, set()).add(key.split(":")[0].strip())
    for glued_by, keys in used.items():
        name = glued_by.relative_to(ROOT).as_posix()
        notebook = executed_notebook(glued_by, CACHE)
        assert notebook is not None, f"{page} uses glue from {name}, which has no cached execution"
        missing = sorted(keys - glue_keys(notebook))
        assert not missing, f"{page} uses glue keys that no cell of {name} glued: {missing}"


IMAGE_FILE = re.compile(r"\S*\.(png|jpe?g|gif|svg|webp|pdf)$", re.I)
# Characters shown as emoji by default (Unicode's Emoji_Presentation, from
# emoji-data.txt), and the variation selector that asks for an emoji glyph.
EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\uFE0F\u231A\u231B\u23E9-\u23EC\u23F0\u23F3"
    "\u25FD\u25FE\u2614\u2615\u2648-\u2653\u267F\u2693\u26A1\u26AA\u26AB"
    "\u26BD\u26BE\u26C4\u26C5\u26CE\u26D4\u26EA\u26F2\u26F3\u26F5\u26FA"
    "\u26FD\u2705\u270A\u270B\u2728\u274C\u274E\u2753-\u2755\u2757"
    "\u2795-\u2797\u27B0\u27BF\u2B1B\u2B1C\u2B50\u2B55]")


def _soup(page):
    from bs4 import BeautifulSoup

    return BeautifulSoup((HTML / f"{page}.html").read_text(), "html.parser")


def alt_problem(alt):
    """Why an image's alt text does not describe it (None if it may)."""
    alt = (alt or "").strip()
    if not alt:
        return "no alt text"
    if IMAGE_FILE.fullmatch(alt) or "/_images/" in alt:
        return f"its file name as alt text: {alt[:60]}"
    if len(alt.split()) < 4:
        return f"an alt text of fewer than four words: {alt!r}"
    return None


def test_alt_problem():
    assert alt_problem(None) == "no alt text"
    assert alt_problem("  ") == "no alt text"
    assert "file name" in alt_problem("../../_images/8f0eab3c.png")
    assert "file name" in alt_problem("figure.svg")
    assert "fewer than four words" in alt_problem("a plot")
    assert alt_problem("Line plot of the loss against the step, one line per seed") is None


@pytest.mark.parametrize("page", PAGES)
def test_every_image_has_a_descriptive_alt_text(page):
    """A figure from a code cell gets its alt text from the cell's metadata
    (``:mystnb: {image: {alt: "..."}}``); without it the HTML writer puts
    the image's file path there, which is what a screen reader would read."""
    images = _soup(page).find_all("img")
    problems = [f"{img.get('src')}: {why}" for img in images
                if (why := alt_problem(img.get("alt")))]
    assert not problems, f"{page}: {len(problems)} image(s) without a describing alt text: {problems[:4]}"


def test_emoji_pattern():
    assert EMOJI.search("status \u2705") and EMOJI.search("\u274C failed")
    assert EMOJI.search("\U0001F680") and EMOJI.search("\u26A0\uFE0F")
    assert not EMOJI.search("\u2713 \u2717 \u26A0 \u221A d \u2264 \u2192 \u00B1 \u03BB \u2013 \u2014")


@pytest.mark.parametrize("page", PAGES)
def test_page_text_has_no_emoji(page):
    """The page's text (outside scripts and styles) holds no emoji: a reader
    without an emoji font sees an empty box (as the reproducibility page's
    status column did with myst-nb's ✅)."""
    soup = _soup(page)
    for tag in soup(["script", "style"]):
        tag.decompose()
    text = soup.get_text()
    found = [f"U+{ord(m.group()):04X} after {text[max(0, m.start() - 40):m.start()]!r}"
             for m in EMOJI.finditer(text)]
    assert not found, f"{page}: emoji in the text: {found[:5]}"


@pytest.mark.parametrize("page", PAGES)
def test_page_has_one_search_field(page):
    """One search field, at the top of the sidebar (``navbar_persistent: []``
    in _config.yml): pydata-sphinx-theme would add a second one in a header
    bar of its own. Narrow screens, without the sidebar, use the article
    header's search button, which wide screens hide."""
    fields = _soup(page).select("button.search-button-field")
    in_sidebar = [f.find_parent(class_="bd-sidebar-primary") is not None for f in fields]
    assert in_sidebar == [True], f"{page}: search fields (in the sidebar or not): {in_sidebar}"


@pytest.mark.parametrize("page", EXECUTABLE)
def test_page_was_executed_by_the_parallel_executor_with_its_current_key(page):
    """`.ci/execute.py` read the page as myst-nb does (the build found its record
    instead of executing it again) and stored the key of the dlbook modules it
    imports as they are now."""
    from jupyter_cache import get_cache

    from dlbook.runtime import profile

    source = ROOT / f"{page}.md"
    record = get_cache(str(CACHE)).match_cache_notebook(execute.read_notebook(source))
    assert record.data.get("dependency_key") == execute.dependency_key(source, ROOT, profile())


def test_reproducibility_page_lists_each_chapters_peak_memory():
    """The execution-resources table (_ext/execution_resources.py) has a row per
    executed page, in table-of-contents order, with the peak host memory its
    kernel reported, stored with its cache record by .ci/execute.py; the CUDA
    columns are filled exactly when the record names a CUDA device."""
    from jupyter_cache import get_cache

    text = (HTML / "book" / "reproducibility.html").read_text()
    table = text.split('dlbook-execution-resources')[1].split("</table>")[0]
    rows = [re.findall(r"<td>(.*?)</td>", row, re.S) for row in table.split("<tr")[2:]]
    cells = [[re.sub(r"<[^>]+>", "", cell).strip() for cell in row] for row in rows]
    assert len(cells) == len(EXECUTABLE)
    cache = get_cache(str(CACHE))
    for page, (title, host, allocated, reserved) in zip(EXECUTABLE, cells):
        data = cache.match_cache_notebook(execute.read_notebook(ROOT / f"{page}.md")).data
        assert float(host.replace(",", "")) == pytest.approx(data["peak_rss_bytes"] / 1e6, abs=0.5)
        assert float(host.replace(",", "")) > 100, (page, host)   # the kernel loads numpy at least
        assert (allocated != "–") == (reserved != "–") == bool(data.get("cuda_device")), page
