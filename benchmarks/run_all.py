"""Run every peer comparison and write one table.

Runs gcn_vs_pyg.py, muon_step.py and attention.py (each checks that the two
sides agree before timing them side by side, in one run) and, with
``--build-times``, times ``make book`` in a temporary git worktree of HEAD:
cold (empty cache), no change, and after a one-line edit of
``code/dlbook/attention.py``. Writes ``benchmarks/results.json`` (the figures,
the machine, versions, date) and prints the table as Markdown; the
reproducibility page of the book shows the committed file.

Usage: ``python benchmarks/run_all.py [--quick] [--build-times] [--out PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import torch

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent


def run_script(name: str, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "result.json"
        subprocess.run([sys.executable, str(HERE / name), "--json", str(out), *extra],
                       check=True, cwd=ROOT)
        return json.loads(out.read_text())


def build_times() -> dict:
    """Cold, no-change and one-module-edit `make book` in a worktree of HEAD."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="dlbook-build-"))
    tree = tmp / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), "HEAD"], check=True, cwd=ROOT)
    try:
        (tree / ".venv").symlink_to(ROOT / ".venv")
        (ROOT / ".venv" / ".installed").touch()       # the pins are already installed
        times = {}

        def make(label: str) -> None:
            os.utime(ROOT / ".venv" / ".installed")
            start = time.perf_counter()
            subprocess.run(["make", "book"], check=True, cwd=tree,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[label] = time.perf_counter() - start

        make("cold")
        make("no change")
        module = tree / "code" / "dlbook" / "attention.py"
        module.write_text(module.read_text() + "\n# a one-line edit\n")
        make("one module edited (attention.py)")
        return times
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--build-times", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results.json"))
    args = parser.parse_args()

    small = ["--repeats", "5"] if args.quick else []
    gcn = run_script("gcn_vs_pyg.py", (["--nodes", "20000"] if args.quick else []) + small)
    muon = run_script("muon_step.py", (["--width", "512"] if args.quick else []) + small)
    attention = run_script("attention.py", small)
    rows = [{"comparison": f"GCN layer fwd+bwd, {gcn['nodes']:,} nodes, {row['layout'].upper()}",
             "ours": "dlbook.graphs.gcn_layer", "reference": "PyG GCNConv(cached=True)",
             "ratio": row["ratio"]} for row in gcn["rows"]]
    rows.append({"comparison": f"Muon step, {len(muon['shapes'])} matrices up to "
                 f"{muon['shapes'][0][0]}x{muon['shapes'][0][1]}",
                 "ours": "dlbook.optim.Muon", "reference": "torch.optim.Muon",
                 "ratio": muon["ratio"]})
    for row in attention["rows"]:
        for name in ("softmax (dlbook)", "linear (dlbook)"):
            rows.append({"comparison": f"attention forward, N = {row['length']}, 8 heads, D = 64",
                         "ours": name, "reference": "torch sdpa",
                         "ratio": row["ratio_to_sdpa"][name]})
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads",
        "device": gcn["device"], "torch": torch.__version__, "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"), "quick": args.quick, "rows": rows,
        "details": {"gcn": gcn, "muon": muon, "attention": attention},
    }
    if args.build_times:
        result["build_seconds"] = build_times()
    pathlib.Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{result['machine']}, {result['device']}, torch {result['torch']}, {result['date']}\n")
    print("| comparison | ours | reference | time ratio (ours / reference) |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['comparison']} | {row['ours']} | {row['reference']} | {row['ratio']:.2f} |")
    for label, seconds in result.get("build_seconds", {}).items():
        print(f"make book, {label}: {seconds:.0f} s")


if __name__ == "__main__":
    main()
