"""Offer every executed chapter as a notebook that runs in plain Jupyter.

A local Sphinx extension (see `_config.yml`). Two builds make the notebooks
(the Makefile's ``book`` target runs them in this order):

1. ``jupyter-book build . --builder custom --custom-builder jupyter`` runs
   QuantEcon's `sphinx-tojupyter` over the same sources into
   ``_build/jupyter``. It writes what the page says as plain Markdown, from
   the resolved document: glued values pasted in as text, exercises and
   solutions as headings, theorems and proofs as bold paragraphs, included
   code as code, cross-references as links.
2. The HTML build then writes ``_notebooks/<page>.ipynb`` into the site
   (this module, after the HTML is written): the Markdown cells of (1), and
   the code cells of the executed notebook in the execution cache. These are
   every cell that ran, in order, with the outputs the page shows; (1) alone
   would miss the cells a page hides (``remove-input``, ``remove-cell``)
   and the outputs. A code cell of (1) that did not run (code a page shows
   with ``literalinclude``) becomes a Markdown code block.

What a plain Jupyter kernel lacks is replaced: ``myst_nb`` is not needed
(its ``glue`` only pastes values into the book's text, which the notebook
already shows, so a stand-in defined in the first code cell displays what
the page displays), and the first cells say what to install. The page links
to its notebook under its title.
"""

from __future__ import annotations

import copy
import pathlib
import re

import nbformat
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

FOLDER = "_notebooks"
TITLE_END = re.compile(r"</h1>")
GLUE_IMPORT = re.compile(r"^from myst_nb import glue[^\n]*\n?", re.M)
# What a chapter's code uses, and the extra of dlbook that provides it.
EXTRAS = {
    "molecules": re.compile(r"\brdkit\b|dlbook\.molecules|\bsolubility\b"),
    "vision": re.compile(r"\btorchvision\b|\b(cifar10|cifar100|mnist)\("),
}
GLUE_STAND_IN = '''\
def glue(name, value, display=True):
    """Stand-in for myst_nb.glue, which pastes a value into the book's text:
    the text of this notebook shows it already, so here it is only displayed
    where the book displays it."""
    if display:
        from IPython.display import display as show

        show(value)
'''
# sphinx-tojupyter's Markdown, made to read as the page does: the empty
# links it leaves for label targets (and for links in table cells, whose
# text stays in the cell), the empty bold it leaves before a table with bold
# in a cell, the word "Proof." written twice, and a solution's title linked
# to its exercise on another line of the page.
MARKDOWN_FIXES = [
    (re.compile(r"\[\]\(#[^)\s]*\)"), ""),
    (re.compile(r"(?:\*\*\*\*)+(?=\|)"), ""),
    (re.compile(r"(\*\*Proof\.\*\*\s*)Proof\.\s*"), r"\1"),
    (re.compile(r"Solution to\[ ([^\]]*)\]\(#[^)\s]*\)"), r"Solution to \1"),
]


def _is_notebook(app: Sphinx, docname: str) -> bool:
    path = pathlib.Path(app.env.doc2path(docname))
    return path.suffix == ".md" and "format_name: myst" in path.read_text()[:400]


def _link(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    if doctree is None or "body" not in context or not _is_notebook(app, pagename):
        return
    up = "../" * pagename.count("/")
    name = pathlib.PurePosixPath(pagename).name
    link = (f'<p class="dlbook-notebook-download"><a class="reference external" '
            f'href="{up}{FOLDER}/{pagename}.ipynb" download>'
            f"Download this chapter as a Jupyter notebook ({name}.ipynb), "
            f"with its outputs; it runs in plain Jupyter</a></p>")
    context["body"] = TITLE_END.sub("</h1>\n" + link, context["body"], count=1)


def _same_code(a: str, b: str) -> bool:
    return a.strip() == b.strip()


def _code_cell(executed: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """An executed cell without ``myst_nb``: the import goes, and so do the
    outputs of ``glue(..., display=False)``, which the book never shows."""
    cell = copy.deepcopy(executed)
    cell.source = GLUE_IMPORT.sub("", cell.source)
    outputs = []
    for output in cell.get("outputs", []):
        glued = output.get("metadata", {}).pop("scrapbook", None)
        if glued is not None and glued.get("mime_prefix"):
            continue
        outputs.append(output)
    cell.outputs = outputs
    return cell


def extras_needed(code: str) -> list[str]:
    """The extras of dlbook a chapter's code needs, from what it calls."""
    return sorted(extra for extra, used in EXTRAS.items() if used.search(code))


def _first_cells(code: str, profile: str) -> list[nbformat.NotebookNode]:
    extras = extras_needed(code)
    spec = f"./code[{','.join(extras)}]" if extras else "./code"
    text = (
        "**Running this notebook.** It is a chapter of *Deep Neural Networks, "
        "Worked*, with the outputs of the book's build (profile "
        f"`{profile}`), and it runs in plain Jupyter. It needs the "
        "book's package, `dlbook`"
        + (f", with the extras {', '.join(f'`{e}`' for e in extras)}" if extras else "")
        + ": in a clone of the book's repository,\n\n"
        f'```bash\npip install "{spec}"\n```\n\n'
        "On a machine without an NVIDIA GPU, install the CPU build of PyTorch "
        "first (`pip install torch --index-url "
        "https://download.pytorch.org/whl/cpu`). The numbers in the text are "
        "those of the book's build: a run on other hardware, or in another "
        "profile (`DLBOOK_PROFILE=quick` or `full`), can differ within the "
        "spread the text gives."
    )
    return [nbformat.v4.new_markdown_cell(text),
            nbformat.v4.new_code_cell(GLUE_STAND_IN)]


def merge(markdown_nb: nbformat.NotebookNode, executed: nbformat.NotebookNode,
          profile: str) -> nbformat.NotebookNode:
    """The downloadable notebook: the Markdown of ``markdown_nb`` (written by
    sphinx-tojupyter) with the code cells of ``executed``, in order.

    Each code cell of ``markdown_nb`` is matched to the next executed cell
    with the same source; executed cells before it that the page hides are
    placed just before it (those before the first shown cell, such as a
    hidden setup cell, at the top), and a code cell with no match (included
    code that never ran) becomes a Markdown code block.
    """
    ran = [c for c in executed.cells if c.cell_type == "code"]
    cells: list[nbformat.NotebookNode] = []
    leading: list[nbformat.NotebookNode] = []
    at = 0
    for cell in markdown_nb.cells:
        if cell.cell_type == "code":
            match = next((j for j in range(at, len(ran))
                          if _same_code(ran[j].source, cell.source)), None)
            if match is None:
                cells.append(nbformat.v4.new_markdown_cell(
                    f"```python\n{cell.source.strip()}\n```"))
                continue
            hidden = [_code_cell(c) for c in ran[at:match]]
            (leading if at == 0 else cells).extend(hidden)
            cells.append(_code_cell(ran[match]))
            at = match + 1
            continue
        source = cell.source
        for pattern, replacement in MARKDOWN_FIXES:
            source = pattern.sub(replacement, source)
        if source.strip():
            cells.append(nbformat.v4.new_markdown_cell(source))
    cells.extend(_code_cell(c) for c in ran[at:])
    code = "\n".join(c.source for c in ran)
    title = 1 if cells and cells[0].cell_type == "markdown" else 0
    cells[title:title] = _first_cells(code, profile) + leading
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python",
                       "name": "python3"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(notebook)
    return notebook


def _write_notebooks(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    from dlbook.runtime import profile
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    converted = pathlib.Path(app.outdir).parent / "jupyter"
    cache = get_cache(app.env.mystnb_config.execution_cache_path)
    config = MdParserConfig(enable_extensions=set(app.config.myst_enable_extensions))
    for docname in sorted(app.env.found_docs):
        if not _is_notebook(app, docname):
            continue
        markdown = converted / f"{docname}.ipynb"
        if not markdown.exists():
            logger.warning(
                f"{docname}: no {markdown} to make the downloadable notebook "
                "from; run the jupyter build first (the Makefile's book target)",
                location=docname)
            continue
        source = pathlib.Path(app.env.doc2path(docname))
        executed = read_myst_markdown_notebook(source.read_text(), config=config,
                                               path=str(source))
        try:
            _, executed = cache.merge_match_into_notebook(executed)
        except KeyError:   # no code cells, or not executed: the source as is
            pass
        notebook = merge(nbformat.read(str(markdown), as_version=4), executed,
                         profile())
        target = pathlib.Path(app.outdir) / FOLDER / f"{docname}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, str(target))


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _link)
    app.connect("build-finished", _write_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
