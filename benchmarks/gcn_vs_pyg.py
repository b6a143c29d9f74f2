"""Time dlbook's sparse GCN layer against PyTorch Geometric's GCNConv.

One layer, forward and backward, on a random undirected graph of 10⁵ nodes
(mean degree 10) with 64 input and 64 output channels, float32, on the
machine's default device. Both sides get the normalization precomputed
(dlbook: ``normalized_adjacency`` once; PyG: ``GCNConv(cached=True)`` after a
first call), so the timed work is the layer itself. The two are timed in
alternation, and the ratio of medians is reported; outputs and gradients are
checked to agree first.

Usage: ``python benchmarks/gcn_vs_pyg.py [--nodes N] [--repeats R] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
from torch_geometric.nn import GCNConv

from dlbook import graphs
from dlbook.data import random_edge_index
from dlbook.runtime import device




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--degree", type=int, default=10)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", type=str, default="")
    args = parser.parse_args()

    dev = device()
    n, d = args.nodes, args.channels
    edges = random_edge_index(n, args.degree, seed=0)
    adjacency = torch.sparse_coo_tensor(edges, torch.ones(edges.shape[1]), (n, n),
                                        check_invariants=True).coalesce()
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(n, d, generator=generator).to(dev).requires_grad_()
    w = (torch.randn(d, d, generator=generator) / d ** 0.5).to(dev).requires_grad_()
    upstream = torch.randn(n, d, generator=generator).to(dev)
    conv = GCNConv(d, d, bias=False, cached=True).to(dev)
    with torch.no_grad():
        conv.lin.weight.copy_(w)
    edges = edges.to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    rows = []
    for layout in ("coo", "csr"):
        a = adjacency if layout == "coo" else adjacency.to_sparse_csr()
        a_hat = graphs.normalized_adjacency(a.to(dev))

        def ours() -> None:
            graphs.gcn_layer(a_hat, x, w, "identity").backward(upstream)

        def pyg() -> None:
            conv(x, edges).backward(upstream)

        # Same numbers first: output and input gradient.
        x.grad = None
        out = graphs.gcn_layer(a_hat, x, w, "identity")
        out.backward(upstream)
        grad_ours = x.grad.clone()
        x.grad = None
        reference = conv(x, edges)
        reference.backward(upstream)
        with torch.no_grad():
            out_err = float((out - reference).abs().max() / reference.abs().max())
            grad_err = float((grad_ours - x.grad).abs().max() / x.grad.abs().max())
        assert out_err < 1e-5 and grad_err < 1e-5, (out_err, grad_err)

        times: dict[str, list[float]] = {"dlbook": [], "pyg": []}
        for fn in (ours, pyg):   # warm-up
            fn()
        for _ in range(args.repeats):
            for name, fn in (("dlbook", ours), ("pyg", pyg)):
                sync()
                start = time.perf_counter()
                fn()
                sync()
                times[name].append(time.perf_counter() - start)
        ours_s, pyg_s = float(np.median(times["dlbook"])), float(np.median(times["pyg"]))
        rows.append({"layout": layout, "dlbook_s": ours_s, "pyg_s": pyg_s,
                     "ratio": ours_s / pyg_s, "max_rel_error_output": out_err,
                     "max_rel_error_grad_x": grad_err})

    result = {
        "benchmark": "GCN layer forward+backward, dlbook sparse vs PyG GCNConv(cached=True)",
        "nodes": n, "edges": int(edges.shape[1]), "channels": d, "repeats": args.repeats,
        "device": str(dev), "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__, "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d"), "rows": rows,
    }
    print(f"{n} nodes, {result['edges']} directed edges, {d} channels, {dev}, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"{'layout':<8}{'dlbook (s)':>12}{'PyG (s)':>10}{'ratio':>8}")
    for row in rows:
        print(f"{row['layout']:<8}{row['dlbook_s']:>12.4f}{row['pyg_s']:>10.4f}{row['ratio']:>8.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
