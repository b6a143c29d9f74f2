"""The site check (tests/site) must see what the build shows: a warning in a
cached output is found after a prose-only edit, when myst-nb takes the page
from the execution cache and writes nothing to _build/jupyter_execute."""

import pathlib
import sys

import nbformat
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "site"))
from sitecheck import (executed_notebook, glue_keys, html_output_problems,  # noqa: E402
                       output_problems)

PAGE = """---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A page

Some prose.

```{code-cell} ipython3
import warnings
warnings.warn("planted")
```
"""


def _cache_execution(tmp_path, outputs):
    """Cache an 'execution' of the page whose single code cell printed ``outputs``."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from myst_nb.core.read import read_myst_markdown_notebook

    source = tmp_path / "page.md"
    source.write_text(PAGE)
    notebook = read_myst_markdown_notebook(PAGE, path=str(source))
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    code[0].outputs = outputs
    cache_path = tmp_path / ".jupyter_cache"
    get_cache(str(cache_path)).cache_notebook_bundle(
        CacheBundleIn(notebook, str(source), data={}), check_validity=False, overwrite=True)
    return source, cache_path


def test_planted_warning_is_found_after_a_prose_only_edit(tmp_path):
    warning = nbformat.v4.new_output("stream", name="stderr",
                                     text="page.py:2: UserWarning: planted\n")
    source, cache_path = _cache_execution(tmp_path, [warning])
    source.write_text(PAGE.replace("Some prose.", "Some prose, edited."))   # prose only
    assert not (tmp_path / "jupyter_execute").exists()
    notebook = executed_notebook(source, cache_path)
    assert notebook is not None
    assert output_problems(notebook) == ["stderr output contains 'UserWarning: '"]


def test_a_code_edit_leaves_no_matching_execution(tmp_path):
    source, cache_path = _cache_execution(tmp_path, [])
    source.write_text(PAGE.replace('warnings.warn("planted")', "pass"))
    assert executed_notebook(source, cache_path) is None


def test_clean_outputs_pass_and_glue_keys_are_read(tmp_path):
    glued = nbformat.v4.new_output("display_data", data={"text/plain": "0.5"},
                                   metadata={"scrapbook": {"name": "half", "mime_prefix": ""}})
    source, cache_path = _cache_execution(tmp_path, [glued])
    notebook = executed_notebook(source, cache_path)
    assert output_problems(notebook) == [] and glue_keys(notebook) == {"half"}


@pytest.mark.parametrize("html, found", [
    ('<div class="cell_output docutils container"><div class="output stream">'
     "<pre>x.py:1: RuntimeWarning: overflow</pre></div></div>", True),
    ('<div class="cell_output docutils container"><div class="output traceback highlight">'
     "<pre>boom</pre></div></div>", True),
    ('<div class="cell_output docutils container"><div class="output stream">'
     "<pre>accuracy 0.9</pre></div></div>", False),
    ("<p>The ValueError: in prose is not an output.</p>", False),
])
def test_html_outputs_are_checked(html, found):
    assert bool(html_output_problems(html)) is found
