"""Time one optimizer step of dlbook.optim.Muon against torch.optim.Muon.

The same weight matrices (``--layers`` square ``--width`` matrices and a
``--width x 10`` head, the hidden layers of an MLP without biases) get the
same fixed gradients; each optimizer steps its own copy, in alternation, and
the ratio of the median step times is reported (target: at most 1.1). Before
timing, one step of each from the same weights is checked to give the same
weights (both run the same bfloat16 Newton–Schulz iteration).

Usage: ``python benchmarks/muon_step.py [--width W] [--layers L]
[--repeats R] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from dlbook.optim import Muon
from dlbook.runtime import device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=str, default="")
    args = parser.parse_args()

    dev = device()
    generator = torch.Generator().manual_seed(0)
    shapes = [(args.width, args.width)] * args.layers + [(10, args.width)]
    weights = [torch.randn(s, generator=generator) / s[1] ** 0.5 for s in shapes]
    grads = [torch.randn(s, generator=generator) for s in shapes]
    settings = dict(lr=0.02, weight_decay=0.01, momentum=0.95)

    def copies() -> list[torch.nn.Parameter]:
        params = [torch.nn.Parameter(w.clone().to(dev)) for w in weights]
        for p, g in zip(params, grads):
            p.grad = g.to(dev)
        return params

    ours_params, theirs_params = copies(), copies()
    ours = Muon(ours_params, **settings)
    theirs = torch.optim.Muon(theirs_params, **settings)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    ours.step()
    theirs.step()
    max_diff = max(float((a - b).detach().abs().max())
                   for a, b in zip(ours_params, theirs_params))
    assert max_diff < 1e-6, max_diff

    times: dict[str, list[float]] = {"dlbook": [], "torch": []}
    for _ in range(args.repeats):
        for name, opt in (("dlbook", ours), ("torch", theirs)):
            sync()
            start = time.perf_counter()
            opt.step()
            sync()
            times[name].append(time.perf_counter() - start)
    ours_s, torch_s = float(np.median(times["dlbook"])), float(np.median(times["torch"]))
    result = {
        "benchmark": "one Muon step, dlbook.optim.Muon vs torch.optim.Muon",
        "shapes": [list(s) for s in shapes], "repeats": args.repeats,
        "dlbook_s": ours_s, "torch_s": torch_s, "ratio": ours_s / torch_s,
        "max_abs_difference_after_one_step": max_diff,
        "device": str(dev), "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__, "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(f"{args.layers} x [{args.width}, {args.width}] + [10, {args.width}], {dev}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"dlbook {ours_s:.4f} s   torch {torch_s:.4f} s   ratio {ours_s / torch_s:.3f}"
          f"   (after one step: max |difference| {max_diff:.1e})")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
