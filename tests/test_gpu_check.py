"""benchmarks/gpu_check.py: its dry run (the GPU check's code paths on the
CPU, tiny sizes) writes the fields the GPU-memory chapter and a reader of
the results need, and never the committed results file.

The chapter it runs here is a two-cell page written for the test, with
``myst_nb`` hidden so that the stand-in ``glue`` is what the cells call (as
on a GPU machine without the Jupyter stack)."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest
import torch

pytest.importorskip("torchvision")

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"

HEADER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A page for the test
"""

TINY = HEADER + textwrap.dedent('''
    ```{code-cell} ipython3
    :tags: [remove-input]
    from myst_nb import glue

    from dlbook.plotting import subplots
    from dlbook.runtime import budget, profile

    n = budget(quick=3, full=5)
    glue("tiny_n", n, display=False)
    glue("tiny_profile", profile(), display=False)
    ```


    ```{code-cell} ipython3
    fig, ax = subplots()
    ax.plot(range(n), label="line")
    ax.legend();
    ```
''')

FAILING = HEADER + textwrap.dedent('''
    ```{code-cell} ipython3
    x = 1
    ```

    ```{code-cell} ipython3
    raise ValueError("the second cell fails")
    ```

    ```{code-cell} ipython3
    y = 2
    ```
''')


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pages")
    (folder / "tiny.md").write_text(TINY)
    (folder / "failing.md").write_text(FAILING)
    hidden = tmp_path_factory.mktemp("hide")
    (hidden / "myst_nb.py").write_text('raise ImportError("hidden for the test")\n')
    return folder, hidden


@pytest.fixture(scope="module")
def dry_run(pages, tmp_path_factory):
    folder, hidden = pages
    out = tmp_path_factory.mktemp("out") / "gpu-results.json"
    env = dict(os.environ, PYTHONPATH=str(hidden), OMP_NUM_THREADS="1")
    env.pop("CUBLAS_WORKSPACE_CONFIG", None)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--out", str(out),
         "--chapter", str(folder / "tiny")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def test_dry_run_writes_the_machine_and_versions(dry_run):
    result, _ = dry_run
    assert result["dry_run"] is True and result["device"] == "cpu"
    assert result["gpu"] is None and result["driver"] is None
    assert result["torch"] == torch.__version__
    assert result["python"].count(".") == 2
    assert len(result["date"]) == 10 and result["date"][4] == "-"
    assert result["cublas_workspace_config"] == ":4096:8"   # set before torch
    assert {"cuda", "cudnn", "capability", "torchvision"} <= set(result)


def test_dry_run_memory_rows(dry_run):
    result, stdout = dry_run
    rows = result["memory"]
    assert {r["optimizer"] for r in rows} == {"SGD", "SGD + momentum", "Adam", "AdamW"}
    for row in rows:
        assert "error" not in row, row.get("error")
        assert row["model"] == "resnet18" and row["pixels"] == 32
        # on the CPU the workspaces are 0, so the prediction is the bare one
        assert row["cublas_workspace_bytes"] == row["cudnn_workspace_bytes"] == 0
        assert row["predicted_bytes"] == row["predicted_without_workspaces_bytes"]
        assert row["ratio"] == pytest.approx(row["predicted_bytes"] / row["measured_bytes"])
        assert abs(row["ratio"] - 1) < 0.05 and abs(row["first_step_ratio"] - 1) < 0.05
    peak = {r["optimizer"]: r["measured_bytes"] for r in rows}
    assert peak["SGD"] < peak["SGD + momentum"] < peak["Adam"]
    assert "ratio" in stdout
    assert result["cublas_first_step"] == {"predicted_bytes": 0, "measured_bytes": None}


def test_dry_run_muon_comparison(dry_run):
    muon = dry_run[0]["muon"]
    assert muon["max_abs_difference_after_one_step"] < 1e-6
    assert muon["ratio"] == pytest.approx(muon["dlbook_s"] / muon["torch_s"])
    assert muon["device"] == "cpu"


def test_dry_run_chapter_record(dry_run):
    chapter = dry_run[0]["chapter"]
    assert chapter["finished"] is True and chapter["error"] is None
    assert chapter["profile"] == "quick" and chapter["cells"] == 2
    assert len(chapter["cell_seconds"]) == 2
    assert all(t >= 0 for t in chapter["cell_seconds"])
    assert chapter["seconds"] >= sum(chapter["cell_seconds"]) - 0.01
    assert chapter["myst_nb"] == "stand-in"
    assert chapter["glued"] == ["tiny_n", "tiny_profile"]


@pytest.fixture(scope="module")
def gpu_check():
    """The script as a module (it sets CUBLAS_WORKSPACE_CONFIG if unset:
    put the environment back afterwards)."""
    saved = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    if saved is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved


def test_a_failing_cell_is_recorded(gpu_check, pages):
    folder, _ = pages
    record = gpu_check.run_chapter(str(folder / "failing"), "quick", 120)
    assert record["finished"] is False
    assert "the second cell fails" in record["error"]
    assert record["cells"] == 3 and len(record["cell_seconds"]) == 1


def test_the_committed_results_are_never_a_dry_run(gpu_check, capsys):
    with pytest.raises(SystemExit):
        gpu_check.main(["--dry-run", "--out", str(gpu_check.RESULTS)])
    assert "never writes" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_real_run_needs_cuda(gpu_check, capsys):
    with pytest.raises(SystemExit):
        gpu_check.main([])
    assert "no CUDA GPU" in capsys.readouterr().err


def test_the_cells_are_extracted_as_the_build_does(gpu_check, pages):
    folder, _ = pages
    cells = gpu_check._code_cells(folder / "tiny.md")
    assert len(cells) == 2 and cells[0].startswith("from myst_nb import glue")
    assert not any(line.startswith(":tags:") for c in cells for line in c.splitlines())
