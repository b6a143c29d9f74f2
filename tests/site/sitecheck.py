"""What the site checks read: the executed notebooks as the build shows them.

The outputs of a page are taken from the place the build takes them from: the
jupyter-cache record that matches the page's current code cells (myst-nb's own
matching), merged into the page. ``_build/jupyter_execute`` is not used: myst-nb
does not rewrite it when a page comes from the cache, so after a prose-only
edit it may be stale or missing. The HTML is read too, since it is what the
reader sees.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
from typing import Iterator


ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|\b\w*(Error|Exception): |\b\w*Warning: ")


def load_execute():
    """The build's own executor module, `.ci/execute.py` (its table-of-contents
    reader, notebook reader and dependency keys)."""
    path = pathlib.Path(__file__).resolve().parents[2] / ".ci" / "execute.py"
    spec = importlib.util.spec_from_file_location("dlbook_execute", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


execute = load_execute()
toc_files = execute.toc_files


def has_code_cells(source: pathlib.Path) -> bool:
    return "```{code-cell}" in source.read_text()


def executed_notebook(source: pathlib.Path, cache_path: pathlib.Path):
    """The executed notebook the build shows for ``source`` (a MyST .md), or None.

    Reads the page as myst-nb does, finds the cache record whose code cells
    match (myst-nb's ``match_cache_notebook``) and merges its outputs in.
    """
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook

    notebook = read_myst_markdown_notebook(source.read_text(), path=str(source))
    cache = get_cache(str(cache_path))
    try:
        cache.match_cache_notebook(notebook)
    except KeyError:
        return None
    return cache.merge_match_into_notebook(notebook)[1]


def output_texts(notebook) -> Iterator[tuple[str, str]]:
    """``(kind, text)`` of every output: ``error``, ``stdout``/``stderr`` or ``data``."""
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                yield "error", f"{output['ename']}: {output['evalue']}"
            elif output["output_type"] == "stream":
                yield output["name"], "".join(output["text"])
            else:
                text = output.get("data", {}).get("text/plain")
                if text:
                    yield "data", "".join(text)


def output_problems(notebook) -> list[str]:
    """Error outputs, and outputs whose text holds a traceback, an error or a warning."""
    problems = []
    for kind, text in output_texts(notebook):
        if kind == "error":
            problems.append(f"cell raised {text}")
        elif match := ERROR_TEXT.search(text):
            problems.append(f"{kind} output contains {match[0]!r}")
    return problems


def glue_keys(notebook) -> set[str]:
    """The names glued by the notebook's outputs (myst-nb's scrapbook metadata)."""
    return {
        output.get("metadata", {}).get("scrapbook", {}).get("name")
        for cell in notebook["cells"] for output in cell.get("outputs", [])
    } - {None}


def html_output_problems(html: str) -> list[str]:
    """Cell outputs in a built page that show a traceback, an error or a warning."""
    from bs4 import BeautifulSoup

    problems = []
    soup = BeautifulSoup(html, "html.parser")
    for output in soup.select("div.cell_output"):
        classes = {c for div in output.select("div.output") for c in div.get("class", [])}
        if "traceback" in classes:
            problems.append("an error output (traceback)")
        if match := ERROR_TEXT.search(output.get_text()):
            problems.append(f"output contains {match[0]!r}")
    return problems
