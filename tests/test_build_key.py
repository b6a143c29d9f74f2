"""The keys that decide when executed outputs are stale: the build folder's
pins-and-profile key (`make book`, `make page`) and the per-chapter dependency
keys of .ci/execute.py (the dlbook modules a chapter imports, the pins, the
profile); and the executor itself."""

import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_build_folder_key_follows_pins_and_profile_not_the_package(tmp_path):
    for part in (".ci", "code"):
        shutil.copytree(ROOT / part, tmp_path / part,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    shutil.copy(ROOT / "requirements.txt", tmp_path)

    def key(profile="quick"):
        env = {**os.environ, "DLBOOK_PROFILE": profile}
        return subprocess.run([sys.executable, str(tmp_path / ".ci" / "build_key.py")],
                              capture_output=True, text=True, env=env,
                              check=True).stdout.strip()

    base = key()
    assert key() == base                       # deterministic
    assert key("full") != base                 # profile
    module = tmp_path / "code" / "dlbook" / "attention.py"
    module.write_text(module.read_text() + "\n# planted edit\n")
    assert key() == base                       # the package is left to .ci/execute.py
    pins = tmp_path / "requirements.txt"
    pins.write_text(pins.read_text() + "\n# a new pin\n")
    assert key() != base


def test_build_targets_use_the_keys():
    makefile = (ROOT / "Makefile").read_text()
    book = makefile.split("\nbook:")[1].split("\n\n")[0]
    page = makefile.split("\npage:")[1].split("\n\n")[0]
    for target in (book, page):
        assert ".ci/build_key.py" in target and "rm -rf" in target
        assert ".ci/execute.py" in target.split(".ci/build_key.py")[1]   # after the key check
    # the page's own cache, where Jupyter Book looks with --path-output $out
    assert "--cache $$out/_build/.jupyter_cache --only $(PAGE)" in page


def _load_execute():
    import importlib.util
    spec = importlib.util.spec_from_file_location("execute", ROOT / ".ci" / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_editing_a_module_marks_exactly_its_importers_stale(tmp_path):
    """In a copy of the book: edit dlbook/attention.py and only the chapters that
    import it (directly or through dlbook) change key; edit dlbook/runtime.py,
    which every chapter imports, and all do; edit a chapter's prose, none does."""
    execute = _load_execute()
    for part in ("code", "book"):
        shutil.copytree(ROOT / part, tmp_path / part,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    for name in ("_toc.yml", "requirements.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    chapters = execute.toc_chapters(tmp_path)
    keys = lambda: {c.relative_to(tmp_path).as_posix(): execute.dependency_key(c, tmp_path, "quick")
                    for c in chapters}
    base = keys()

    def importers(module):
        return {name for name, c in zip(base, chapters)
                if tmp_path / "code" / "dlbook" / module in execute.dependency_files(c, tmp_path)}

    attention = tmp_path / "code" / "dlbook" / "attention.py"
    attention.write_text(attention.read_text() + "\n# planted edit\n")
    edited = keys()
    stale = {name for name in base if edited[name] != base[name]}
    assert stale == importers("attention.py")
    assert {"book/attention/attention-scaling.md", "book/attention/argmax-attention.md",
            "book/attention/linear-attention.md"} <= stale
    assert "book/graphs/path-counting.md" not in stale and len(stale) < len(base) / 2

    page = tmp_path / "book" / "attention" / "attention-scaling.md"
    page.write_text(page.read_text() + "\nMore prose.\n")
    changed = {name for name, key in keys().items() if key != edited[name]}
    # prose is jupyter-cache's business, not the key's; only a page that
    # declares the chapter sources as data (`# depends on: */*.md`) follows it
    assert changed == {"book/reproducibility.md"}

    runtime = tmp_path / "code" / "dlbook" / "runtime.py"
    runtime.write_text(runtime.read_text() + "\n# planted edit\n")
    assert all(keys()[name] != edited[name] for name in base)
    assert keys() != {name: execute.dependency_key(c, tmp_path, "full")
                      for name, c in zip(base, chapters)}


def test_a_declared_file_dependency_is_part_of_the_key(tmp_path):
    execute = _load_execute()
    shutil.copytree(ROOT / "code", tmp_path / "code",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    shutil.copy(ROOT / "requirements.txt", tmp_path)
    (tmp_path / "book").mkdir()
    chapter = tmp_path / "book" / "page.md"
    chapter.write_text("```{code-cell} ipython3\n# depends on: ../results.json\n"
                       "import json\n```\n")
    results = tmp_path / "results.json"
    results.write_text("{}")
    base = execute.dependency_key(chapter, tmp_path, "quick")
    results.write_text('{"ratio": 1.0}')
    assert execute.dependency_key(chapter, tmp_path, "quick") != base


def _notebook(tmp_path, *cells):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A page"),
                                         *map(nbformat.v4.new_code_cell, cells),
                                         nbformat.v4.new_markdown_cell("The end.")])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    chapter = tmp_path / "page.md"
    chapter.write_text("placeholder")
    return str(chapter), nb


def test_executor_matches_jupyter_cache_and_records_peak_memory(tmp_path):
    """`.ci/execute.py` runs a notebook exactly as jupyter-cache's
    single_nb_execution would (same cells, outputs and metadata: the memory
    probe leaves no trace), and reports the kernel's peak resident memory,
    which grows with a 200 MB array the notebook holds."""
    import copy

    from jupyter_cache.executors.utils import single_nb_execution
    execute = _load_execute()
    chapter, nb = _notebook(tmp_path, "import numpy as np\nx = np.ones(25_000_000)\nprint(x.sum())",
                            "x.nbytes")
    reference = copy.deepcopy(nb)
    _, ours, _, error, used = execute._execute(chapter, nb, 60)
    single_nb_execution(reference, cwd=str(tmp_path), timeout=60, allow_errors=False)
    assert error is None and ours == reference
    assert "25000000.0" in ours.cells[1].outputs[0]["text"]
    assert used["peak_rss_bytes"] > 200e6
    assert used["peak_cuda_allocated_bytes"] is None        # no torch, no CUDA

    _, small, _, _, used_small = execute._execute(*_notebook(tmp_path, "y = 1", "y"), 60)
    assert used_small["peak_rss_bytes"] < used["peak_rss_bytes"] - 150e6


def test_executor_reports_a_failing_cell_or_a_dead_kernel(tmp_path):
    execute = _load_execute()
    _, _, _, error, used = execute._execute(*_notebook(tmp_path, "1 / 0"), 60)
    assert "ZeroDivisionError" in error and "peak_rss_bytes" not in used
    _, _, _, error, used = execute._execute(*_notebook(tmp_path, "import os\nos._exit(3)"), 60)
    assert "DeadKernelError" in error and "peak_rss_bytes" not in used


def test_executor_can_be_limited_to_one_page(tmp_path):
    """`make page` runs .ci/execute.py --only PAGE into the page's own cache."""
    def dry_run(*pages):
        return subprocess.run([sys.executable, str(ROOT / ".ci" / "execute.py"), "--dry-run",
                               "--cache", str(tmp_path / "cache"), "--only", *pages],
                              capture_output=True, text=True, cwd=ROOT)

    result = dry_run("book/graphs/path-counting")
    assert result.returncode == 0, result.stderr
    assert "1 stale chapter(s) of 1" in result.stdout
    assert "book/graphs/path-counting.md" in result.stdout
    wrong = dry_run("book/graphs/no-such-page")
    assert wrong.returncode == 2 and "no-such-page" in wrong.stderr
