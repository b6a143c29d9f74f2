"""Time softmax and linear attention against PyTorch's fused attention.

For sequence lengths N (queries = keys = N, head size D = 64, value size 64,
one batch of 8 heads, float32, on the machine's default device): the book's
written-out ``softmax_attention`` (O(N^2 D)), its ``kernel_attention_linear``
with ELU+1 features (O(N D^2)), and ``torch.nn.functional.
scaled_dot_product_attention``. Forward only, median of repeated runs taken in
alternation; the written-out softmax is first checked against the fused one.
Ratios to the fused kernel are reported.

Usage: ``python benchmarks/attention.py [--lengths 256 1024 4096] [--repeats R] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

from dlbook.attention import elu_features, kernel_attention_linear, softmax_attention
from dlbook.runtime import device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", type=str, default="")
    args = parser.parse_args()

    dev = device()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    rows = []
    for n in args.lengths:
        g = torch.Generator().manual_seed(n)
        q, k, v = (torch.randn(8, n, 64, generator=g).to(dev) for _ in range(3))
        fns = {
            "softmax (dlbook)": lambda: softmax_attention(q, k, v),
            "linear (dlbook)": lambda: kernel_attention_linear(q, k, v, elu_features),
            "sdpa (torch)": lambda: F.scaled_dot_product_attention(q, k, v),
        }
        with torch.no_grad():
            err = float((fns["softmax (dlbook)"]() - fns["sdpa (torch)"]()).abs().max())
            assert err < 1e-4, err
            times: dict[str, list[float]] = {name: [] for name in fns}
            for fn in fns.values():
                fn()
            for _ in range(args.repeats):
                for name, fn in fns.items():
                    sync()
                    start = time.perf_counter()
                    fn()
                    sync()
                    times[name].append(time.perf_counter() - start)
        medians = {name: float(np.median(t)) for name, t in times.items()}
        base = medians["sdpa (torch)"]
        rows.append({"length": n, "seconds": medians,
                     "ratio_to_sdpa": {name: t / base for name, t in medians.items()},
                     "max_abs_difference_softmax_vs_sdpa": err})

    result = {
        "benchmark": "attention forward, dlbook softmax and linear vs torch sdpa",
        "heads": 8, "head_size": 64, "repeats": args.repeats, "rows": rows,
        "device": str(dev), "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__, "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(f"8 heads, D = 64, {dev}, {torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"{'N':>6}" + "".join(f"{name:>20}" for name in rows[0]["seconds"]) + "   (ratio to sdpa)")
    for row in rows:
        print(f"{row['length']:>6}" + "".join(f"{r:>20.2f}" for r in row["ratio_to_sdpa"].values()))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
