"""Project the full profile's run time, per code cell, from a rehearsal.

The rehearsal (`make rehearse`, i.e. `.ci/execute.py --rehearse`) runs every chapter in the full profile on the CPU with the
lengths that `budget(..., rehearse=...)` marks cut. For each code cell it
records the wall time and, through a counting dispatch mode installed in the
kernel (`COUNTER`), the number of PyTorch operators run and their FLOPs
(matrix products and convolutions, by `torch.utils.flop_counter`'s formulas).
From those:

1. **Cut scale.** The cell's cost is taken to be linear in the cut lengths
   it uses (`cut_scales`). For each top-level statement: the product of
   `full / rehearse` (values, or lengths of lists) of the cut budgets it
   names, times the largest such ratio among those it reaches only through
   functions the chapter defines (there they are often alternatives, such as
   a step limit and an epoch floor, not factors); a call that passes a cut
   length as a keyword overrides the lengths of the function it calls. The
   cell's scale is its largest statement's (the heaviest statement is taken
   to dominate); a cell that uses nothing cut has scale 1. This is a
   heuristic read off the code, not a measurement.
2. **CPU time split.** Of the rehearsal's cell time, `flops / P_cpu` is
   arithmetic and `ops * c_cpu` the per-operator cost, both measured on this
   machine at the start (`calibrate`); the rest (Python, NumPy, SciPy, data
   handling) is taken to run as fast on the runner as here.
3. **GPU time.** The full-profile cell on one H100-class GPU:
   `scale * (rest + flops / P_GPU + ops * C_GPU)`, with the assumed
   throughput `P_GPU` and per-operator cost `C_GPU` below (the GPU check,
   `benchmarks/gpu_check.py`, measures what a GPU really does).

Per-cell limits for the full build are `LIMIT_FACTOR` times the projection,
and never under `LIMIT_MIN` seconds; the GPU workflow's time-out is
`WORKFLOW_FACTOR` times the projected total, plus the install, tests and
site check. Runs that stop early (a loss reached, a training set fitted)
are projected at their longest, so the projection leans high.
"""

from __future__ import annotations

import ast
import datetime
import math
import platform
import time

P_GPU = 25e12  # FLOP/s: about 40 % of an H100's 67 TFLOP/s FP32 (no TF32)
C_GPU = 12e-6  # s per operator on a GPU: eager dispatch plus kernel launch
LIMIT_FACTOR = 4.0   # a cell's limit: this many times its projection
LIMIT_MIN = 300
WORKFLOW_FACTOR = 2.0   # the GPU workflow's time-out: this many times the total
CELL_FIXED = 0.05   # s per cell that no length scales (the executor's round trip)
OVERHEAD_MINUTES = 45  # install, make test and the site check on the runner

# Installed in the chapter's kernel before its first cell in a rehearsal:
# counts operators and FLOPs per cell, read back by the executor.
COUNTER = """\
import IPython as _ip
import torch as _torch
from torch.utils._python_dispatch import TorchDispatchMode as _Mode
from torch.utils.flop_counter import flop_registry as _flops


class _Counter(_Mode):
    ops = 0
    flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        _Counter.ops += 1
        formula = _flops.get(func._overloadpacket)
        if formula is not None:
            try:
                _Counter.flops += int(formula(*args, **kwargs, out_val=out))
            except Exception:
                pass
        return out


_dlbook_counts = []
_dlbook_mode = [None]


def _dlbook_pre(*_):
    _Counter.ops = _Counter.flops = 0
    _dlbook_mode[0] = _Counter()
    _dlbook_mode[0].__enter__()


def _dlbook_post(*_):
    if _dlbook_mode[0] is not None:
        _dlbook_mode[0].__exit__(None, None, None)
        _dlbook_mode[0] = None
    _dlbook_counts.append((_Counter.ops, _Counter.flops))


_ip.get_ipython().events.register("pre_run_cell", _dlbook_pre)
_ip.get_ipython().events.register("post_run_cell", _dlbook_post)
"""

# Run after the last cell: the counts, one pair per cell run (the first is
# COUNTER's own cell, then the chapter's code cells, then the executor's probe).
COUNTS = """\
import json as _json
print(_json.dumps(_dlbook_counts))
"""


def calibrate(threads: int) -> dict:
    """This machine's matrix-product throughput and per-operator cost with
    ``threads`` threads, and the counter's (``COUNTER``) own cost per
    operator; each the best of five runs, so that other work on the machine
    disturbs them less."""
    import torch

    torch.set_num_threads(threads)
    a = torch.randn(1024, 1024)
    a @ a

    def matmul() -> float:
        start = time.perf_counter()
        a @ a
        return time.perf_counter() - start

    p_cpu = 2 * 1024**3 / min(matmul() for _ in range(5))
    x = torch.randn(8)

    def small_ops() -> float:
        start = time.perf_counter()
        for _ in range(5_000):
            x.add(1.0)
        return (time.perf_counter() - start) / 5_000

    c_cpu = min(small_ops() for _ in range(5))
    scope: dict = {}
    exec(COUNTER.split("_dlbook_counts = []")[0].replace(
        "import IPython as _ip\n", ""), scope)
    counted = []
    for _ in range(5):
        with scope["_Counter"]():
            counted.append(small_ops())
    return {"threads": threads, "p_cpu_flops": p_cpu, "c_cpu_seconds": c_cpu,
            "counter_overhead_seconds": max(0.0, min(counted) - c_cpu)}


def _literal(node: ast.AST) -> object:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None


def _ratio(call: ast.Call) -> float:
    """``full / rehearse`` of a ``budget(...)`` call (1 when not cut)."""
    kw = {k.arg: _literal(k.value) for k in call.keywords}
    full, cut = kw.get("full"), kw.get("rehearse")
    if "rehearse" not in {k.arg for k in call.keywords}:
        return 1.0
    if isinstance(full, (list, tuple)) and isinstance(cut, (list, tuple)):
        full, cut = len(full), len(cut)
    if isinstance(full, (int, float)) and isinstance(cut, (int, float)) and cut > 0:
        return max(1.0, float(full) / float(cut))
    return 1.0


def _budget_calls(node: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == "budget"]


def cut_scales(cells: list[str]) -> list[float]:
    """Per code cell, the factor by which the full profile's cut lengths
    multiply the cell's work (see the module's docstring)."""
    trees = []
    for source in cells:
        try:
            trees.append(ast.parse(source))
        except SyntaxError:  # IPython magics: no cut lengths there
            trees.append(ast.Module(body=[], type_ignores=[]))
    cut: dict[str, float] = {}    # name -> ratio
    cut_keys: dict[str, dict] = {}   # configuration dict -> key -> ratio
    functions: dict[str, set[str]] = {}   # chapter function -> names it uses
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                value = node.value
                if value is None:
                    continue
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
                        pairs = zip(target.elts, value.elts)
                    else:
                        pairs = [(target, value)]
                    for t, v in pairs:
                        if isinstance(t, ast.Name) and isinstance(v, ast.Dict):
                            # a configuration: each key its own length
                            keys = {k.value: math.prod(_ratio(c) for c in _budget_calls(x))
                                    for k, x in zip(v.keys, v.values)
                                    if isinstance(k, ast.Constant)}
                            if any(r > 1 for r in keys.values()):
                                cut[t.id] = max(keys.values())
                                cut_keys[t.id] = keys
                            continue
                        ratio = math.prod(_ratio(c) for c in _budget_calls(v))
                        for name in ast.walk(t):
                            if isinstance(name, ast.Name) and ratio > 1:
                                cut[name.id] = cut.get(name.id, 1.0) * ratio
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions[node.name] = {n.id for n in ast.walk(node)
                                        if isinstance(n, ast.Name)}
    scales = []
    for tree in trees:
        scale = max([_statement_scale(stmt, cut, cut_keys, functions)
                     for stmt in tree.body], default=1.0)
        scales.append(float(scale))
    return scales


def _statement_scale(stmt: ast.stmt, cut: dict[str, float], cut_keys: dict[str, dict],
                     functions: dict[str, set[str]]) -> float:
    """The cut scale of one top-level statement of a cell (see cut_scales)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return 1.0   # defining a function costs nothing
    skip: set[int] = set()
    # names in the values that define cut lengths (SEEDS in
    # `SHIFT_SEEDS = SEEDS[:budget(...)]` only slices)
    skip |= {id(n) for node in ast.walk(stmt)
             if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value
             and any(_ratio(c) > 1 for c in _budget_calls(node.value))
             for n in ast.walk(node.value)}
    # a call that passes a cut length (`run(..., steps=SHIFT_STEPS)`)
    # overrides the lengths of the function it calls
    skip |= {id(node.func) for node in ast.walk(stmt)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
             and any(isinstance(k.value, ast.Name) and k.value.id in cut
                     for k in node.keywords)}
    # CONFIG["epochs"]: the ratio of that key alone
    keyed = [(node.value, node.slice.value) for node in ast.walk(stmt)
             if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
             and node.value.id in cut_keys and isinstance(node.slice, ast.Constant)
             and id(node.value) not in skip]
    skip |= {id(name) for name, _ in keyed}
    key_ratios = {(name.id, key): cut_keys[name.id].get(key, 1.0) for name, key in keyed}
    names = {n.id for n in ast.walk(stmt) if id(n) not in skip
             and isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    pending, seen = set(names), set()
    while pending:   # names used through the chapter's own functions
        name = pending.pop()
        seen.add(name)
        pending |= functions.get(name, set()) - seen
    inline = [c for c in _budget_calls(stmt) if not isinstance(stmt, (ast.Assign, ast.AnnAssign))]
    # Lengths the statement names multiply (a loop over seeds of a loop over
    # epochs); of those only reached through functions, the largest counts
    # (they are often alternatives: a step limit and an epoch floor).
    scale = math.prod(cut[n] for n in names if n in cut) * math.prod(key_ratios.values())
    scale *= max([cut[n] for n in seen - names if n in cut], default=1.0)
    return scale * math.prod(_ratio(c) for c in inline)


def project_chapter(cells: list[str], seconds: list[float], counts: list[list[int]],
                    calibration: dict) -> dict:
    """The projection of one chapter from its rehearsal (see the docstring)."""
    scales = cut_scales(cells)
    rows = []
    for k, (scale, t) in enumerate(zip(scales, seconds)):
        ops, flops = counts[k] if k < len(counts) else (0, 0)
        t_true = max(0.0, t - ops * calibration["counter_overhead_seconds"])
        rest = max(0.0, t_true - CELL_FIXED - flops / calibration["p_cpu_flops"]
                   - ops * calibration["c_cpu_seconds"])
        gpu = min(t_true, CELL_FIXED) + scale * (rest + flops / P_GPU + ops * C_GPU)
        rows.append({"cell": k, "rehearsal_seconds": round(t_true, 3),
                     "scale": round(scale, 2), "ops": ops, "flops": flops,
                     "projected_cpu_seconds": round(
                         min(t_true, CELL_FIXED) + scale * max(0.0, t_true - CELL_FIXED), 2),
                     "projected_gpu_seconds": round(gpu, 2),
                     "limit_seconds": int(max(LIMIT_MIN, math.ceil(LIMIT_FACTOR * gpu)))})
    return {
        "rehearsal_seconds": round(sum(r["rehearsal_seconds"] for r in rows), 2),
        "projected_cpu_seconds": round(sum(r["projected_cpu_seconds"] for r in rows), 1),
        "projected_gpu_seconds": round(sum(r["projected_gpu_seconds"] for r in rows), 1),
        "cells": rows,
    }


def projection(chapters: dict[str, dict], calibration: dict) -> dict:
    """The whole projection file from the per-chapter projections."""
    total = sum(c["projected_gpu_seconds"] for c in chapters.values())
    return {
        "what": "full profile on one H100-class GPU, projected from a CPU "
                "rehearsal (.ci/projection.py says how)",
        "measured_on": f"{platform.machine()}, {calibration['threads']} thread(s) per chapter",
        "date": datetime.date.today().isoformat(),
        "assumed": {"p_gpu_flops": P_GPU, "c_gpu_seconds": C_GPU,
                    "limit_factor": LIMIT_FACTOR, "limit_min_seconds": LIMIT_MIN},
        "calibration": calibration,
        "projected_gpu_total_seconds": round(total, 1),
        "projected_cpu_total_seconds": round(
            sum(c["projected_cpu_seconds"] for c in chapters.values()), 1),
        "workflow_timeout_minutes": int(math.ceil(WORKFLOW_FACTOR * total / 60))
        + OVERHEAD_MINUTES,
        "chapters": chapters,
    }
