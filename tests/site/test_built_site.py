"""Checks of the built site (run after `make book`, by `make check-site` and .ci/run).

Every page of the table of contents exists as HTML; every page with code cells
has an executed notebook in the execution cache that matches its current code;
no output (in that notebook or in the HTML) holds a traceback, an exception
message or a warning; every glue key used in a page's prose was glued by it.
Outputs are read as the build shows them (see sitecheck.py), so a page taken
from the cache after a prose-only edit is checked too.
"""

import pathlib
import re
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from sitecheck import (execute, executed_notebook, glue_keys, has_code_cells,  # noqa: E402
                       html_output_problems, output_problems, toc_files)

ROOT = pathlib.Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
CACHE = ROOT / "_build" / ".jupyter_cache"
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
