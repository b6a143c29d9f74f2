"""Checks of the built site (run after `make book`, by `make check-site` and .ci/run).

Every page of the table of contents exists as HTML; no executed output holds a
traceback, an exception message or a warning; every glue key used in a page's
prose was glued by an executed notebook.
"""

import json
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
EXECUTED = ROOT / "_build" / "jupyter_execute"

def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def executed_notebooks() -> list[pathlib.Path]:
    return sorted(EXECUTED.rglob("*.ipynb"))


def page_of(notebook: pathlib.Path) -> str:
    """``_build/jupyter_execute/book/x/y.ipynb`` -> ``book/x/y`` (the _toc.yml name)."""
    return notebook.relative_to(EXECUTED).with_suffix("").as_posix()


def test_site_was_built():
    assert (HTML / "index.html").is_file(), "no _build/html: run `make book` first"


@pytest.mark.parametrize("page", toc_files())
def test_every_toc_page_has_html(page):
    assert (HTML / f"{page}.html").is_file(), f"{page} is in _toc.yml but was not built"


def test_every_chapter_with_code_was_executed():
    executable = [p for p in toc_files() if "```{code-cell}" in (ROOT / f"{p}.md").read_text()]
    assert executable, "no chapter has code cells"
    built = {page_of(nb) for nb in executed_notebooks()}
    for page in executable:
        assert page in built, f"{page} has code cells but no executed notebook"


ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|\b\w*(Error|Exception): |\b\w*Warning: ")


def output_texts(notebook: dict):
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


@pytest.mark.parametrize("notebook", executed_notebooks(), ids=page_of)
def test_outputs_hold_no_errors_or_warnings(notebook):
    content = json.loads(notebook.read_text())
    for kind, text in output_texts(content):
        assert kind != "error", f"{notebook.stem}: cell raised {text}"
        assert not ERROR_TEXT.search(text), f"{notebook.stem}: output contains {ERROR_TEXT.search(text)[0]!r}"


GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`]+)`")


def glued_keys() -> dict[str, set[str]]:
    """Glue keys per page, read from the execution cache (the rendered notebooks drop them)."""
    from jupyter_cache import get_cache

    cache = get_cache(ROOT / "_build" / ".jupyter_cache")
    newest = {}
    for record in cache.list_cache_records():  # the newest record per source file
        if record.uri not in newest or record.pk > newest[record.uri].pk:
            newest[record.uri] = record
    keys: dict[str, set[str]] = {}
    for uri, record in newest.items():
        notebook = cache.get_cache_bundle(record.pk).nb
        page = pathlib.Path(uri).resolve().relative_to(ROOT).with_suffix("").as_posix()
        keys[page] = {
            output.get("metadata", {}).get("scrapbook", {}).get("name")
            for cell in notebook.cells for output in cell.get("outputs", [])
        } - {None}
    return keys


@pytest.mark.parametrize("page", toc_files())
def test_every_glue_key_used_was_glued(page):
    text = (ROOT / f"{page}.md").read_text()
    used = {m.group(1).split(":")[0].strip() for m in GLUE_ROLE.finditer(text)}
    if not used:
        return
    available = glued_keys().get(page, set())
    missing = sorted(used - available)
    assert not missing, f"{page} uses glue keys that no cell glued: {missing}"
