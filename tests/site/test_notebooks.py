"""The downloadable notebooks run in plain Jupyter (run by `make check-site`).

Each executed chapter offers ``_notebooks/<page>.ipynb`` (made by
_ext/notebook_download.py from sphinx-tojupyter's Markdown and the executed
code cells). Every such notebook is checked as a file: it says what to
install, holds no MyST markup a plain Jupyter would show as text, carries
every code cell that ran, with the outputs the page shows, and needs no
``myst_nb``.

Three of them, one of each kind (a derivation, a training run, molecules),
are executed top to bottom in a fresh virtual environment that holds
``dlbook`` with its extras and ``ipykernel``, and nothing else: the venv's
site-packages names one folder of links to exactly those distributions and
what they require (read from the installed metadata), so ``myst_nb``,
Sphinx and the book's other tools cannot be imported there. They run in an
empty folder, as a downloaded notebook would.
"""

import os
import pathlib
import re
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from sitecheck import executed_notebook, has_code_cells, toc_files  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("DLBOOK_BUILD_DIR", ROOT / "_build"))
HTML = BUILD / "html"
CACHE = BUILD / ".jupyter_cache"
EXECUTABLE = [page for page in toc_files(ROOT) if has_code_cells(ROOT / f"{page}.md")]
RUN_PLAIN = ["book/attention/attention-scaling",        # derivation
             "book/regularization/dropout-experiments",  # training
             "book/graphs/solubility"]                   # molecules
# MyST a plain Jupyter shows as text: roles, directives, colon fences.
MYST = re.compile(r"\{[a-z-]+(:[a-z-]+)?\}`|^```\{|^:::|\[Unresolved glue", re.M)

sys.path.insert(0, str(ROOT / "_ext"))
sys.path.insert(0, str(ROOT / "tests"))
import linked_venv  # noqa: E402
from notebook_download import GLUE_IMPORT, extras_needed  # noqa: E402


def downloaded(page):
    import nbformat

    path = HTML / "_notebooks" / f"{page}.ipynb"
    assert path.is_file(), f"{page}: no {path}"
    return nbformat.read(str(path), as_version=4)


@pytest.mark.parametrize("page", EXECUTABLE)
def test_the_page_links_its_notebook(page):
    assert f"_notebooks/{page}.ipynb" in (HTML / f"{page}.html").read_text()


@pytest.mark.parametrize("page", EXECUTABLE)
def test_the_notebook_reads_as_plain_markdown(page):
    import nbformat

    notebook = downloaded(page)
    nbformat.validate(notebook)
    markdown = [c.source for c in notebook.cells if c.cell_type == "markdown"]
    assert markdown[0].startswith("# "), f"{page}: the title is not the first cell"
    assert "pip install" in markdown[1], f"{page}: the second cell does not say what to install"
    for text in markdown:
        assert not MYST.search(text), f"{page}: MyST left in {text[:300]!r}"
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "myst_nb" not in code.replace("myst_nb.glue", ""), page


@pytest.mark.parametrize("page", EXECUTABLE)
def test_the_notebook_holds_every_cell_that_ran_with_its_outputs(page):
    """The code cells after the stand-in for ``glue`` are the cells of the
    executed notebook the page shows, in order, less the ``myst_nb`` import,
    with its outputs less those of ``glue(..., display=False)``."""
    notebook = downloaded(page)
    shown = executed_notebook(ROOT / f"{page}.md", CACHE)
    assert shown is not None, f"{page}: no cached execution of its current code"
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code[0].source.startswith("def glue("), page
    ran = [c for c in shown.cells if c.cell_type == "code"]
    assert [c.source for c in code[1:]] == [GLUE_IMPORT.sub("", c.source) for c in ran]
    for ours, theirs in zip(code[1:], ran):
        kept = [o for o in theirs.outputs
                if not o.get("metadata", {}).get("scrapbook", {}).get("mime_prefix")]
        assert [o.get("data", o.get("text")) for o in ours.outputs] == [
            o.get("data", o.get("text")) for o in kept]
    assert any(c.outputs for c in code), f"{page}: the notebook has no outputs"


def test_extras_are_read_off_the_code():
    assert extras_needed("from dlbook.molecules import featurize") == ["molecules"]
    assert extras_needed("train = cifar10()\nimport torch") == ["vision"]
    assert extras_needed("import torch\nx = torch.ones(3)") == []


@pytest.fixture(scope="module")
def plain_kernel(tmp_path_factory):
    """A kernel spec for a fresh venv with dlbook, its extras and ipykernel."""
    import json

    tmp = tmp_path_factory.mktemp("plain")
    needs = linked_venv.user_requirements(ROOT / "code" / "pyproject.toml")
    python = linked_venv.make(tmp, [*needs, "ipykernel"],
                              extra_links={"dlbook": ROOT / "code" / "dlbook"})
    found = linked_venv.importable(python, [
        "dlbook", "torch", "torchvision", "rdkit", "pandas", "ipykernel",
        "myst_nb", "sphinx", "jupyter_book", "pytest"])
    assert found == ["dlbook", "torch", "torchvision", "rdkit", "pandas", "ipykernel"]
    spec = tmp / "kernels" / "kernels" / "plain"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "dlbook, plain", "language": "python"}))
    return tmp / "kernels"


@pytest.mark.parametrize("page", RUN_PLAIN)
def test_the_notebook_runs_top_to_bottom_in_plain_jupyter(page, plain_kernel, tmp_path,
                                                           monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(plain_kernel))
    notebook = downloaded(page)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(notebook, kernel_name="plain", timeout=600,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert any(c.outputs for c in notebook.cells if c.cell_type == "code"), page
