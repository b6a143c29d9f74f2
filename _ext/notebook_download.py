"""Offer every executed chapter as a Jupyter notebook (.ipynb) for download.

A local Sphinx extension (see `_config.yml`). After the HTML is written, each
page that is a MyST notebook is read the way myst-nb reads it, its outputs are
merged from the execution cache (the record of its current code, the one the
page shows), and the result is written to ``_notebooks/<page>.ipynb`` in the
site. Each such page gets a link to it under its title. The notebook runs on
its own once `dlbook` is installed from the repository (`pip install ./code`).
"""

from __future__ import annotations

import pathlib
import re

import nbformat
from sphinx.application import Sphinx

FOLDER = "_notebooks"
TITLE_END = re.compile(r"</h1>")


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
            f"Download this chapter as an executed notebook ({name}.ipynb)</a></p>")
    context["body"] = TITLE_END.sub("</h1>\n" + link, context["body"], count=1)


def _write_notebooks(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    cache = get_cache(app.env.mystnb_config.execution_cache_path)
    config = MdParserConfig(enable_extensions=set(app.config.myst_enable_extensions))
    for docname in sorted(app.env.found_docs):
        if not _is_notebook(app, docname):
            continue
        source = pathlib.Path(app.env.doc2path(docname))
        notebook = read_myst_markdown_notebook(source.read_text(), config=config,
                                               path=str(source))
        try:
            _, notebook = cache.merge_match_into_notebook(notebook)
        except KeyError:   # no code cells, or not executed: the source as is
            pass
        notebook.metadata.pop("source_map", None)
        target = pathlib.Path(app.outdir) / FOLDER / f"{docname}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, str(target))


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _link)
    app.connect("build-finished", _write_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
