"""The rehearsal of the full profile and what a full build needs first:
`dlbook.runtime`'s switch (`rehearsal`, `budget(rehearse=)`, `judge`), the
archives (`dlbook.data.archives`: stand-ins, the check, the command line), and
`.ci/execute.py`'s lanes, data check, counters and projection."""

import importlib.util
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from dlbook import runtime
from dlbook.data import archives
from dlbook.data.cifar import cifar10, cifar100
from dlbook.data.vision import mnist

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / ".ci" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def rehearsing(monkeypatch):
    monkeypatch.delenv("DLBOOK_PROFILE", raising=False)
    monkeypatch.setenv("DLBOOK_REHEARSAL", "1")


# --- dlbook.runtime ---------------------------------------------------------

def test_a_rehearsal_is_the_full_profile_with_cut_lengths(rehearsing):
    assert runtime.rehearsal() and runtime.profile() == "full"
    assert runtime.budget(quick=1, full=100, rehearse=3) == 3
    assert runtime.budget(quick=[1], full=[1, 2, 3]) == [1, 2, 3]   # shapes: as full


def test_a_rehearsed_page_says_so(rehearsing, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.describe().split("\n")[0].endswith("profile full (rehearsal)")


def test_outside_a_rehearsal_budget_ignores_the_cut(monkeypatch):
    monkeypatch.delenv("DLBOOK_REHEARSAL", raising=False)
    monkeypatch.setenv("DLBOOK_PROFILE", "full")
    assert not runtime.rehearsal()
    assert runtime.budget(quick=1, full=100, rehearse=3) == 100
    monkeypatch.setenv("DLBOOK_PROFILE", "quick")
    assert runtime.budget(quick=1, full=100, rehearse=3) == 1


@pytest.mark.parametrize("value", ["yes", "2", "true"])
def test_the_switch_rejects_unknown_values(monkeypatch, value):
    monkeypatch.setenv("DLBOOK_REHEARSAL", value)
    with pytest.raises(ValueError, match="DLBOOK_REHEARSAL"):
        runtime.rehearsal()


def test_a_rehearsal_of_the_quick_profile_is_refused(monkeypatch, rehearsing):
    monkeypatch.setenv("DLBOOK_PROFILE", "quick")
    with pytest.raises(ValueError, match="rehearsal runs the 'full' profile"):
        runtime.profile()


def test_judge_enforces_outside_a_rehearsal_and_reports_inside(monkeypatch, capsys):
    monkeypatch.delenv("DLBOOK_REHEARSAL", raising=False)
    assert runtime.judge(np.bool_(True), "holds")
    with pytest.raises(AssertionError, match="Muon beats AdamW"):
        runtime.judge(torch.tensor(False), "Muon beats AdamW")
    monkeypatch.setenv("DLBOOK_REHEARSAL", "1")
    assert runtime.judge(False, "Muon beats AdamW") is False
    assert capsys.readouterr().out == (
        "not judged (rehearsal, does not hold on this cut run): Muon beats AdamW\n")
    with pytest.raises(TypeError, match="claim"):
        runtime.judge(True, " ")


# --- dlbook.data.archives ---------------------------------------------------

@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    return archives.write_stand_ins(tmp_path_factory.mktemp("data"), n_train=20, n_test=5)


def test_stand_ins_are_read_by_torchvision_in_a_rehearsal(stand_ins, rehearsing):
    data = cifar100(root=stand_ins)
    assert data.is_stand_in and "rehearsal stand-in" in data.name
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (5, 3, 32, 32)
    assert data.num_classes == 100 and int(data.y_train.max()) < 100
    ten = cifar10(root=stand_ins)
    assert ten.x_train.shape == (20, 3, 32, 32) and ten.num_classes == 10
    digits = mnist(root=stand_ins)
    assert digits.is_stand_in and digits.x_train.shape == (20, 1, 28, 28)


def test_stand_ins_are_refused_outside_a_rehearsal(stand_ins, monkeypatch):
    monkeypatch.delenv("DLBOOK_REHEARSAL", raising=False)
    with pytest.raises(RuntimeError, match="stand-ins.*python -m dlbook.data fetch"):
        cifar100(root=stand_ins)
    assert archives.missing(root=stand_ins) == list(archives.ARCHIVES)
    with pytest.raises(ValueError, match="root: .* stand-ins"):
        archives.fetch(root=stand_ins)


def test_a_tampered_stand_in_fails_its_check(tmp_path, rehearsing):
    folder = archives.write_stand_ins(tmp_path, n_train=5, n_test=1)
    test = folder / "cifar-100-python" / "test"
    test.write_bytes(test.read_bytes()[:-1] + b"\x00")
    with pytest.raises(RuntimeError, match="fail their check"):
        cifar100(root=folder)


def test_missing_archives_are_named_with_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("DLBOOK_DATA", str(tmp_path))
    assert archives.missing() == ["cifar10", "cifar100", "mnist"]
    with pytest.raises(ValueError, match="names: unknown"):
        archives.missing(["imagenet"])
    check = subprocess.run([sys.executable, "-m", "dlbook.data", "check", "mnist"],
                           capture_output=True, text=True)
    assert check.returncode == 1
    assert "missing: MNIST" in check.stdout and archives.FETCH_COMMAND in check.stdout
    with pytest.raises(RuntimeError, match="(?s)never download.*python -m dlbook.data fetch"):
        cifar10()


@pytest.mark.parametrize("n_train, n_test", [(0, 1), (7, 1), (5, 0)])
def test_stand_in_sizes_are_checked(tmp_path, n_train, n_test):
    with pytest.raises(ValueError, match="n_t"):
        archives.write_stand_ins(tmp_path, n_train=n_train, n_test=n_test)


# --- .ci/execute.py and .ci/projection.py -----------------------------------

def test_gpu_chapters_run_one_at_a_time_per_gpu():
    execute = _load("execute")
    chapters = ["a", "b", "c", "d", "e"]
    gpu = {"a": True, "b": False, "c": True, "d": True, "e": False}
    assert execute.plan_lanes(chapters, gpu, 2) == {"a": 0, "b": None, "c": 1, "d": 0, "e": None}
    assert set(execute.plan_lanes(chapters, gpu, 0).values()) == {None}


def test_which_chapters_use_the_gpu_and_which_archives():
    execute = _load("execute")
    book = ROOT / "book"
    assert execute.uses_gpu(book / "systems" / "gpu-memory.md", ROOT)
    assert execute.uses_gpu(book / "cnn" / "mlp-vs-cnn.md", ROOT)
    assert not execute.uses_gpu(book / "cnn" / "cnn-shapes.md", ROOT)
    assert execute.archives_needed(book / "cnn" / "mlp-vs-cnn.md") == {"cifar100"}
    assert execute.archives_needed(book / "cnn" / "cnn-shapes.md") == set()


def test_a_full_build_without_archives_stops_before_executing(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DLBOOK_PROFILE": "full",
           "DLBOOK_DATA": str(tmp_path / "empty")}
    result = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "execute.py"), "--cache", str(tmp_path / "cache"),
         "--only", "book/cnn/mlp-vs-cnn", "book/cnn/cnn-shapes"],
        capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 1
    assert "CIFAR-100" in result.stderr and "python -m dlbook.data fetch" in result.stderr
    assert "nothing was executed" in result.stderr and "executed book" not in result.stdout


def test_cut_scales_follow_names_through_the_chapters_functions():
    projection = _load("projection")
    cells = [
        "from dlbook.runtime import budget\n"
        "epochs = budget(quick=2, full=10, rehearse=1)\n"
        "seeds = budget(quick=[0], full=[0, 1, 2, 3], rehearse=[0, 1])\n"
        "width = budget(quick=8, full=64)",
        "def train():\n    return [e for e in range(epochs)]",
        "for s in seeds:\n    train()",
        "print(width)",
        "for _ in range(budget(quick=1, full=50, rehearse=5)):\n    pass",
        "%%time\nx = 1",
        "def run():\n    return min(epochs * 3, len(seeds))",
        "for s in seeds:\n    run()",
        "few = seeds[: budget(quick=1, full=4, rehearse=2)]\nfor s in few:\n"
        "    train(epochs=epochs)",
        "CONFIG = {'steps': budget(quick=1, full=30, rehearse=10), 'lr': 0.1}",
        "fit(steps=CONFIG['steps'], lr=CONFIG['lr'])\nprint(CONFIG['lr'])",
    ]
    # defining a function costs nothing; seeds (x2) named, epochs (x10)
    # through train(); through run() epochs and seeds are alternatives: only
    # the larger counts; `seeds` only slices `few` (x2), and epochs passed
    # to train() count once
    # a configuration's keys count one by one
    assert projection.cut_scales(cells) == [1.0, 1.0, 20.0, 1.0, 10.0, 1.0, 1.0, 20.0, 20.0,
                                            1.0, 3.0]


def test_the_counter_counts_operators_and_flops(tmp_path):
    execute = _load("execute")
    sys.path.insert(0, str(ROOT / ".ci"))
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in (
        "import torch\na = torch.ones(64, 32)\nb = torch.ones(32, 16)",
        "c = a @ b\nd = c + 1",
        "print('not judged (rehearsal, holds on this cut run): it works')")])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    chapter = tmp_path / "page.md"
    chapter.write_text("placeholder")
    _, ran, _, error, used = execute._execute(str(chapter), nb, 60, True)
    assert error is None and len(ran.cells) == 3                # the counter left no cell
    assert used["cell_counts"][1] == [2, 2 * 64 * 32 * 16]     # mm and add; mm's FLOPs
    assert len(used["cell_seconds"]) == 3
    assert used["not_judged"] == ["not judged (rehearsal, holds on this cut run): it works"]
    projection = _load("projection")
    calibration = {"threads": 1, "p_cpu_flops": 1e10, "c_cpu_seconds": 1e-5,
                   "counter_overhead_seconds": 1e-5}
    rows = projection.project_chapter(["x = 1"] * 3, used["cell_seconds"],
                                      used["cell_counts"], calibration)
    assert rows["cells"][1]["limit_seconds"] == projection.LIMIT_MIN


def test_the_numpy_check_finds_a_gpu_tensor_sent_to_numpy():
    numpy_without_cpu = _load("execute").numpy_without_cpu
    assert numpy_without_cpu("s = torch.linalg.svdvals(buf).numpy()") == [1]
    assert numpy_without_cpu("x = model(x).detach().numpy()\ny = 2") == [1]
    assert numpy_without_cpu("s = torch.linalg.svdvals(buf).cpu().numpy()") == []
    assert numpy_without_cpu("s = out.detach().to('cpu').numpy()") == []
    assert numpy_without_cpu("s = out[0].cpu()[1].numpy()") == []


def test_no_chapter_sends_a_tensor_to_numpy_without_cpu():
    """In the full profile tensors live on the GPU: every ``.numpy()`` in a
    chapter goes through ``.cpu()`` first (issue 18, item 2)."""
    execute = _load("execute")
    found = [m for c in execute.toc_chapters(ROOT) for m in execute.device_mistakes(c, ROOT)]
    assert not found, "\n".join(found)
