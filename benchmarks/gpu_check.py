"""The measurements only a CUDA GPU can make, in one run of under ten minutes.

1. **Memory.** ``dlbook.memory``'s prediction of a training step's peak,
   with the cuBLAS and cuDNN workspaces, against the caching allocator's
   peak (``measure_cuda_peak``), for SGD, SGD with momentum, Adam and AdamW
   and several batch sizes, on ResNet-18 at 32x32 and ResNet-152 at
   224x224; also what the first training step leaves allocated beyond its
   gradients (the cuBLAS workspaces the model assumes) and the CUDA context
   before and after it.
2. **Muon.** One step of ``dlbook.optim.Muon`` against ``torch.optim.Muon``
   (``benchmarks/muon_step.py``, imported).
3. **A chapter end to end** in the full profile (default
   ``book/graphs/path-counting``: no downloaded data, only torch, NumPy,
   networkx and Matplotlib, and its aggregation timings run on the GPU; on
   two CPU cores its full profile takes about four minutes, nearly all of
   it the part a GPU does): its code cells run in one fresh Python process,
   as ``.ci/execute.py`` extracts them, without Jupyter; the wall time of
   the whole and of each cell, and whether it finished.

Writes ``benchmarks/gpu-results.json`` (the GPU, driver, CUDA, torch and
Python versions, the date, and the rows), which the GPU-memory chapter
shows. ``--dry-run`` runs the same code paths on the CPU with tiny sizes
(memory measured by the profiler, the chapter in the quick profile) and
writes to ``--out`` or a temporary file, never to the committed results.

Usage, from the repository root: ``python benchmarks/gpu_check.py
[--out PATH] [--chapter PAGE] [--dry-run]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import io
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import types

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "gpu-results.json"
CHAPTER = "book/graphs/path-counting"
CHAPTER_TIMEOUT = {"full": 360, "dry": 120}  # seconds
# The cuBLAS workspace, fixed before torch starts (as .ci/execute.py does):
# the memory model's figure then does not depend on PyTorch's default.
CUBLAS = ":4096:8"
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS)
if str(ROOT / "code") not in sys.path:  # dlbook from this checkout
    sys.path.insert(0, str(ROOT / "code"))

import torch
import torchvision
from torch.nn import functional as F

from dlbook.memory import (
    cublas_workspace_bytes,
    estimate_training_step,
    measure_cpu_peak,
    measure_cuda_peak,
    measure_cudnn_workspace,
)

OPTIMIZERS = {
    "SGD": lambda ps: torch.optim.SGD(ps, lr=0.01),
    "SGD + momentum": lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9),
    "Adam": lambda ps: torch.optim.Adam(ps, lr=1e-3),
    "AdamW": lambda ps: torch.optim.AdamW(ps, lr=1e-3),
}
# (model, pixels, batch sizes): on the GPU, and in the dry run (where the
# CPU profiler, far slower than the allocator's counters, measures)
MEMORY_GRID = {
    "full": [
        ("resnet18", 32, [4, 16, 64, 256]),
        ("resnet152", 224, [1, 2, 4, 8]),
    ],
    "dry": [("resnet18", 32, [2])],
}


def _block(t: torch.Tensor) -> int:
    """Bytes the caching allocator hands out for ``t`` (512-byte blocks)."""
    return -(-t.numel() * t.element_size() // 512) * 512


def training_step(model, opt, x, y):
    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def first_cublas_use(dev: torch.device) -> dict:
    """The process's first training step with a matrix product: what it
    leaves allocated beyond its gradients (the cuBLAS workspaces, one per
    thread), and the CUDA context (used minus reserved) before and after."""
    predicted = 2 * cublas_workspace_bytes()
    if dev.type != "cuda":
        return {"predicted_bytes": 0, "measured_bytes": None}

    def context() -> int:
        torch.cuda.synchronize(dev)
        free, total = torch.cuda.mem_get_info(dev)
        return total - free - torch.cuda.memory_reserved(dev)

    ctx_init = context()
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
    ).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(32, 64, device=dev)
    y = torch.randint(0, 10, (32,), device=dev)
    before = torch.cuda.memory_allocated(dev)
    training_step(model, opt, x, y)()
    ctx_step = context()
    grads = sum(_block(p.grad) for p in model.parameters())
    kept = torch.cuda.memory_allocated(dev) - before - grads
    return {
        "predicted_bytes": predicted,
        "measured_bytes": int(kept),
        "context_after_first_call_bytes": int(ctx_init),
        "context_after_first_step_bytes": int(ctx_step),
    }


def memory_row(
    dev: torch.device, arch: str, shape: tuple, name: str, cudnn: int | None
) -> dict:
    """One model, shape and optimizer: the prediction (with and without
    the workspaces) and the measured peak of the first and a later step.
    ``cudnn=None`` measures cuDNN's workspace (on CUDA; 0 on the CPU)."""
    on_cuda = dev.type == "cuda"
    cublas = 2 * cublas_workspace_bytes() if on_cuda else 0
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(num_classes=10).to(dev)
    if cudnn is None:
        cudnn = (
            measure_cudnn_workspace(model, shape, device=dev) if on_cuda else 0
        )
    opt = OPTIMIZERS[name](model.parameters())
    x = torch.randn(shape, device=dev)
    y = torch.randint(0, 10, (shape[0],), device=dev)
    step = training_step(model, opt, x, y)
    est = estimate_training_step(
        model,
        x,
        opt,
        cublas_workspace_bytes=cublas,
        cudnn_workspace_bytes=cudnn,
    )
    bare = estimate_training_step(model, x, opt)
    if on_cuda:
        first = measure_cuda_peak(step, dev).peak  # no optimizer state yet
        later = measure_cuda_peak(step, dev).peak
    else:
        first = measure_cpu_peak(step).peak
        later = measure_cpu_peak(step).peak
    return {
        "cublas_workspace_bytes": cublas,
        "cudnn_workspace_bytes": cudnn,
        "predicted_bytes": est.peak,
        "predicted_without_workspaces_bytes": bare.peak,
        "measured_bytes": later,
        "ratio": est.peak / later,
        "first_step_predicted_bytes": est.first_step_peak,
        "first_step_measured_bytes": first,
        "first_step_ratio": est.first_step_peak / first,
    }


def memory_rows(dev: torch.device, grid: list) -> list[dict]:
    """:func:`memory_row` per model, batch size and optimizer; a row that
    fails (out of memory, say) records its error and the others go on."""
    rows = []
    for arch, pixels, batches in grid:
        for batch in batches:
            shape = (batch, 3, pixels, pixels)
            cudnn = None  # measured once per model and shape
            for name in OPTIMIZERS:
                row = {"model": arch, "pixels": pixels, "batch": batch}
                row["optimizer"] = name
                try:
                    row.update(memory_row(dev, arch, shape, name, cudnn))
                    cudnn = row["cudnn_workspace_bytes"]
                    print(
                        f"  {arch} {pixels}px batch {batch:>3} {name:<15} "
                        f"predicted {row['predicted_bytes'] / 1e6:9.1f} MB  "
                        f"measured {row['measured_bytes'] / 1e6:9.1f} MB  "
                        f"ratio {row['ratio']:.3f}",
                        flush=True,
                    )
                except Exception:  # noqa: BLE001 (the row records it)
                    row["error"] = traceback.format_exc(limit=4)
                    print(row["error"], file=sys.stderr, flush=True)
                rows.append(row)
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
    return rows


def muon(dry: bool) -> dict:
    """``benchmarks/muon_step.py``'s comparison, run through its own
    ``main`` (imported) with a JSON output."""
    spec = importlib.util.spec_from_file_location(
        "muon_step", HERE / "muon_step.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sizes = ["--width", "64", "--layers", "2", "--repeats", "2"] if dry else []
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "muon.json"
        argv = sys.argv
        sys.argv = ["muon_step.py", *sizes, "--json", str(out)]
        try:
            module.main()
        finally:
            sys.argv = argv
        return json.loads(out.read_text())


# ---- a chapter, end to end, without Jupyter ---------------------------------


def _code_cells(page: pathlib.Path) -> list[str]:
    """The chapter's code cells as ``.ci/execute.py`` extracts them (its
    ``_code_cells``, imported from the file; PyYAML, which that module
    imports but ``_code_cells`` does not use, is stubbed if absent)."""
    stubbed = False
    try:
        import yaml  # noqa: F401
    except ImportError:
        sys.modules["yaml"] = types.ModuleType("yaml")
        stubbed = True
    try:
        spec = importlib.util.spec_from_file_location(
            "dlbook_ci_execute", ROOT / ".ci" / "execute.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if stubbed:
            del sys.modules["yaml"]
    return module._code_cells(page.read_text())


def _stand_ins() -> dict[str, object]:
    """Modules a chapter imports from the Jupyter stack, where absent: a
    ``myst_nb`` whose ``glue`` records the values (returned, by name), and
    ``IPython.display``."""
    glued: dict[str, object] = {}
    try:
        import myst_nb
    except ImportError:
        myst_nb = types.ModuleType("myst_nb")

        def glue(name: str, value: object, display: bool = True) -> None:
            glued[name] = value
            if display:
                print(f"{name}: {value!r}")

        myst_nb.glue = glue
        sys.modules["myst_nb"] = myst_nb
    try:
        import IPython.display  # noqa: F401
    except ImportError:
        ipython = types.ModuleType("IPython")
        shown = types.ModuleType("IPython.display")
        shown.Markdown = lambda text: text
        shown.display = lambda *objects, **_: print(*objects)
        ipython.display = shown
        sys.modules["IPython"], sys.modules["IPython.display"] = ipython, shown
    return glued


def chapter_worker(page: str, out: str) -> None:
    """Run in a fresh process: execute the chapter's code cells in one
    namespace, from the chapter's folder, timing each; write the record."""
    import matplotlib

    matplotlib.use("Agg")
    glued = _stand_ins()
    path = (ROOT / page).with_suffix(".md")
    cells = _code_cells(path)
    record: dict = {"page": page, "cells": len(cells), "cell_seconds": []}
    record["finished"], record["error"] = False, None
    real = getattr(sys.modules["myst_nb"], "__file__", None) is not None
    record["myst_nb"] = "real" if real else "stand-in"
    os.chdir(path.parent)
    namespace = {"__name__": "__main__"}
    start = time.perf_counter()
    try:
        for source in cells:
            began = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                # the chapter's own code, as its notebook would run it
                exec(compile(source, str(path), "exec"), namespace)  # noqa: S102
            record["cell_seconds"].append(round(time.perf_counter() - began, 3))
        record["finished"] = True
    except Exception:  # noqa: BLE001 (any failure of the chapter is the finding)
        record["error"] = traceback.format_exc(limit=8)
    record["seconds"] = round(time.perf_counter() - start, 3)
    if record["myst_nb"] == "stand-in":
        record["glued"] = sorted(glued)
    pathlib.Path(out).write_text(json.dumps(record))


def run_chapter(page: str, profile: str, timeout: int) -> dict:
    """The chapter in a fresh process with ``DLBOOK_PROFILE=profile``."""
    env = dict(os.environ, DLBOOK_PROFILE=profile, MPLBACKEND="Agg")
    env.pop("DLBOOK_REHEARSAL", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "code"), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "chapter.json"
        start = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, __file__, "--chapter-worker", page, str(out)],
                check=False,
                env=env,
                timeout=timeout,
                capture_output=True,
                text=True,
            )
        except subprocess.TimeoutExpired:
            return {
                "page": page,
                "profile": profile,
                "finished": False,
                "error": f"timed out after {timeout} s",
                "seconds": round(time.perf_counter() - start, 3),
                "cell_seconds": None,
            }
        if not out.is_file():
            return {
                "page": page,
                "profile": profile,
                "finished": False,
                "error": (done.stderr or done.stdout)[-4000:],
                "seconds": round(time.perf_counter() - start, 3),
                "cell_seconds": None,
            }
        record = json.loads(out.read_text())
    record["profile"] = profile
    record["process_seconds"] = round(time.perf_counter() - start, 3)
    return record


# ---- the machine and the run ----------------------------------------------


def _driver() -> str | None:
    try:
        done = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=driver_version",
                "--format=csv,noheader",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 else None


def machine(dev: torch.device) -> dict:
    on_cuda = dev.type == "cuda"
    return {
        "gpu": torch.cuda.get_device_name(dev) if on_cuda else None,
        "capability": list(torch.cuda.get_device_capability(dev))
        if on_cuda
        else None,
        "gpu_memory_bytes": torch.cuda.get_device_properties(dev).total_memory
        if on_cuda
        else None,
        "driver": _driver() if on_cuda else None,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if on_cuda else None,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": datetime.date.today().isoformat(),
        "cublas_workspace_config": os.environ["CUBLAS_WORKSPACE_CONFIG"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", help=f"where to write (default: {RESULTS.relative_to(ROOT)})"
    )
    parser.add_argument(
        "--chapter", default=CHAPTER, help=f"page to run (default {CHAPTER})"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="the same code paths on the CPU, tiny sizes, to a temporary file",
    )
    parser.add_argument("--chapter-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.chapter_worker:
        chapter_worker(*args.chapter_worker)
        return 0

    if args.dry_run:
        if args.out:
            out = pathlib.Path(args.out)
        else:
            handle, name = tempfile.mkstemp(
                prefix="gpu-results-dry-run-", suffix=".json"
            )
            os.close(handle)
            out = pathlib.Path(name)
        if out.resolve() == RESULTS.resolve():
            parser.error(f"a dry run never writes {RESULTS.relative_to(ROOT)}")
        dev = torch.device("cpu")
    else:
        if not torch.cuda.is_available():
            parser.error(
                "no CUDA GPU here; --dry-run checks the script on the CPU"
            )
        out = pathlib.Path(args.out) if args.out else RESULTS
        dev = torch.device("cuda")
    size = "dry" if args.dry_run else "full"
    profile = "quick" if args.dry_run else "full"
    start = time.perf_counter()
    result = {**machine(dev), "dry_run": args.dry_run, "device": str(dev)}
    print(f"gpu_check on {result['gpu'] or 'the CPU (dry run)'}", flush=True)
    sections = [
        (
            "cublas_first_step",
            "cuBLAS workspaces",
            lambda: first_cublas_use(dev),
        ),
        (
            "memory",
            "memory: predicted against measured",
            lambda: memory_rows(dev, MEMORY_GRID[size]),
        ),
        ("muon", "Muon step: dlbook against torch", lambda: muon(args.dry_run)),
        (
            "chapter",
            f"chapter {args.chapter}, profile {profile}",
            lambda: run_chapter(args.chapter, profile, CHAPTER_TIMEOUT[size]),
        ),
    ]
    failed = []
    for key, title, run in sections:
        print(title, flush=True)
        try:
            result[key] = run()
        except Exception:  # noqa: BLE001 (record it; the other parts still run)
            result[key] = {"error": traceback.format_exc(limit=8)}
            failed.append(key)
            print(result[key]["error"], file=sys.stderr, flush=True)
        result["seconds"] = round(time.perf_counter() - start, 1)
        # written after every part: a run cut short keeps what it measured
        out.write_text(json.dumps(result, indent=2) + "\n")
    chapter = result["chapter"]
    if "finished" in chapter:
        print(
            f"  chapter finished: {chapter['finished']} in "
            f"{chapter['seconds']:.1f} s",
            flush=True,
        )
    print(
        f"wrote {out} ({result['seconds']:.0f} s)"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
