"""A table of what each chapter needed when it was last executed.

A local Sphinx extension (see `_config.yml`) with one directive,
``execution-resources``, used on the reproducibility page. `.ci/execute.py`
stores, with each chapter's record in the execution cache, what the kernel
reported after the last cell: its peak resident memory and,
when the chapter used CUDA, torch's peak allocated and reserved device memory
and the device's name. The directive lists them for every executed page in
table-of-contents order. It is filled in when the page is written and the
page is rebuilt every time, so the table follows the cache, like myst-nb's
``nb-exec-table``.

It also writes the status column of myst-nb's ``nb-exec-table`` in words:
myst-nb marks it with the emoji ✅ and ❌, which fonts without emoji (many
Linux desktops) show as an empty box.
"""

from __future__ import annotations

import pathlib

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

MB = 1e6


class resources_placeholder(nodes.General, nodes.Element):  # noqa: N801 (docutils style)
    """Replaced by the table when the page is resolved."""


class ExecutionResources(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        self.env.metadata[self.env.docname]["execution_resources"] = True
        return [resources_placeholder()]


def _records(app: Sphinx) -> list[tuple[str, dict]]:
    """(docname, record data) for each page with a record of its current code."""
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    cache = get_cache(app.env.mystnb_config.execution_cache_path)
    config = MdParserConfig(enable_extensions=set(app.config.myst_enable_extensions))
    rows = []
    for docname in app.env.found_docs:
        source = pathlib.Path(app.env.doc2path(docname))
        text = source.read_text()
        if source.suffix != ".md" or "format_name: myst" not in text[:400]:
            continue
        notebook = read_myst_markdown_notebook(text, config=config, path=str(source))
        try:
            record = cache.match_cache_notebook(notebook)
        except KeyError:
            continue
        rows.append((docname, dict(record.data)))
    order = _toc_order(app)
    return sorted(rows, key=lambda row: (order.get(row[0], len(order)), row[0]))


def _toc_order(app: Sphinx) -> dict[str, int]:
    """Position of each page in a depth-first walk of the toctrees."""
    order: list[str] = []

    def walk(docname: str) -> None:
        if docname in order:
            return
        order.append(docname)
        for child in app.env.toctree_includes.get(docname, []):
            walk(child)

    walk(app.config.root_doc)
    return {name: i for i, name in enumerate(order)}


def _megabytes(value: object) -> str:
    return f"{value / MB:,.0f}" if isinstance(value, (int, float)) else "–"


def _table(app: Sphinx, fromdocname: str) -> list[nodes.Node]:
    rows = _records(app)
    header = ["chapter", "peak memory, host (MB)",
              "CUDA peak allocated (MB)", "CUDA peak reserved (MB)"]
    table = nodes.table(classes=["dlbook-execution-resources"])
    group = nodes.tgroup(cols=len(header))
    table += group
    group.extend(nodes.colspec(colwidth=1) for _ in header)

    def row(cells: list[nodes.Node | str]) -> nodes.row:
        line = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph("", "", cell if isinstance(cell, nodes.Node)
                                     else nodes.Text(cell))
            line += entry
        return line

    head = nodes.thead()
    head += row(header)
    body = nodes.tbody()
    for docname, data in rows:
        title = app.env.titles.get(docname)
        link = nodes.reference("", "", internal=True,
                               refuri=app.builder.get_relative_uri(fromdocname, docname))
        link += nodes.Text(title.astext() if title is not None else docname)
        body += row([link, _megabytes(data.get("peak_rss_bytes")),
                     _megabytes(data.get("peak_cuda_allocated_bytes")),
                     _megabytes(data.get("peak_cuda_reserved_bytes"))])
    group += head
    group += body
    devices = sorted({d["cuda_device"] for _, d in rows if d.get("cuda_device")})
    note = (f"CUDA columns measured on {', '.join(devices)}." if devices else
            "CUDA columns: not measured in this build (no chapter ran on a GPU).")
    return [table, nodes.paragraph("", note)]


STATUS_WORDS = {"\u2705": "succeeded", "\u274c": "failed"}   # nb-exec-table's ✅ and ❌


def _plain_status(doctree: nodes.document) -> None:
    """The ✅ and ❌ of an ``nb-exec-table`` (filled in by a post-transform,
    before this runs) in words."""
    for table in doctree.findall(nodes.table):
        for text in list(table.findall(nodes.Text)):
            if text.astext().strip() in STATUS_WORDS:
                text.parent.replace(text, nodes.Text(STATUS_WORDS[text.astext().strip()]))


def _resolve(app: Sphinx, doctree: nodes.document, fromdocname: str) -> None:
    for placeholder in doctree.findall(resources_placeholder):
        placeholder.replace_self(_table(app, fromdocname))
    _plain_status(doctree)


def _always_outdated(app: Sphinx, env, added, changed, removed) -> list[str]:
    return [name for name, meta in env.metadata.items() if meta.get("execution_resources")]


def setup(app: Sphinx) -> dict:
    app.add_node(resources_placeholder)
    app.add_directive("execution-resources", ExecutionResources)
    app.connect("doctree-resolved", _resolve)
    app.connect("env-get-outdated", _always_outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
