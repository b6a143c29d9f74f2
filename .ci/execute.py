"""Execute the book's stale chapters in parallel into the execution cache.

Run by `make book` before Jupyter Book, which then finds every chapter in the
cache and only renders. A chapter is executed again when, and only when,

* its code cells changed (jupyter-cache matches a record by their hash), or
* its *dependency key* changed: the `dlbook` modules it imports, directly or
  through other `dlbook` modules (with the packages' ``__init__`` files), the
  files its cells declare with ``# depends on: <path>``, the pins
  (requirements.txt, code/pyproject.toml) and the run profile.

The key is stored with the chapter's record in the cache, with the
execution time and the peak memory the chapter's kernel reported after its
last cell (host, and CUDA when used; the reproducibility page lists them); a
record with another key (or none, or no memory figures) is removed. Stale
chapters are executed in parallel, longest first (by the time recorded in the cache), the cores shared between
the jobs (OMP_NUM_THREADS), each in its own folder as
myst-nb would, and their notebooks are read with myst-nb's own reader, so the
records match what the Sphinx build looks up. A failing chapter's traceback
is printed and written to _build/reports/, and the command fails.

In the full profile the chapters that use the GPU (their code, or a dlbook
module they import, asks for `device()` or CUDA) run one at a time per GPU,
each pinned to its GPU with CUDA_VISIBLE_DEVICES; the others run beside them
with CUDA hidden. Before anything runs, the archives the stale chapters read
must be in DLBOOK_DATA (`python -m dlbook.data fetch`), and each cell gets the
time limit projected for it (benchmarks/full-projection.json).

`--rehearse` (`make rehearse`) runs the full profile on this machine with the
lengths each chapter marks with `budget(..., rehearse=...)` cut and small
stand-in archives in the official formats (into _build_rehearsal/), and
lists the claims `dlbook.runtime.judge` could not judge on cut runs. It also
counts each cell's operators and FLOPs and, when it covered the whole book,
writes the projection of the full build on one GPU to
benchmarks/full-projection.json (see .ci/projection.py).

Usage: python .ci/execute.py [--jobs N] [--dry-run] [--cache DIR] [--only PAGE ...]
                             [--rehearse] [--gpus N]
"""

from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import json
import os
import pathlib
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
PINS = ("requirements.txt", "code/pyproject.toml")
REPORTS = ROOT / "_build" / "reports"   # one traceback per failed chapter
REHEARSAL = ROOT / "_build_rehearsal"   # the rehearsal's cache, data and reports
PROJECTION = ROOT / "benchmarks" / "full-projection.json"
FULL_CELL_LIMIT = 3600   # seconds, for a full-profile cell the projection lacks
# cuBLAS: a fixed workspace per handle and stream, so that repeated GPU runs
# pick the same algorithms (and the memory chapter knows its size)
CUBLAS_WORKSPACE = ":4096:8"
sys.path.insert(0, str(ROOT / ".ci"))


def toc_files(root: pathlib.Path) -> list[str]:
    """Every page of ``_toc.yml`` (root, parts, chapters, sections), without suffix."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries: list | None) -> None:
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def toc_chapters(root: pathlib.Path) -> list[pathlib.Path]:
    """The pages of _toc.yml that are executable MyST notebooks."""
    pages = [root / f"{f}.md" for f in toc_files(root)]
    return [p for p in pages if p.is_file() and "format_name: myst" in p.read_text()[:400]]


@functools.lru_cache(maxsize=None)
def _dlbook_imports(source: str) -> frozenset[str]:
    """Names of the dlbook modules a piece of Python imports (absolute imports)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return frozenset()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.split(".")[0] == "dlbook"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "dlbook":
                names.add(node.module)
                # `from dlbook.data import cifar` may name a submodule
                names |= {f"{node.module}.{a.name}" for a in node.names}
    return frozenset(names)


def module_file(code: pathlib.Path, name: str) -> pathlib.Path | None:
    base = code.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


DEPENDS_ON = re.compile(r"#\s*depends on:\s*(\S+)")


def dependency_files(chapter: pathlib.Path, root: pathlib.Path) -> list[pathlib.Path]:
    """The dlbook files a chapter's code imports, transitively, with the
    ``__init__.py`` of every package on the way (Python runs those too), and
    any file a code cell declares with a ``# depends on: <path or glob>``
    comment (relative to the chapter, e.g. a results file the chapter reads)."""
    code = root / "code"
    cells = _code_cells(chapter.read_text())
    pending: set[str] = set().union(*(_dlbook_imports(c) for c in cells))
    seen: set[pathlib.Path] = {
        path.resolve()
        for c in cells for m in DEPENDS_ON.finditer(c)
        for path in sorted(chapter.parent.glob(m.group(1))) if path.is_file()
    }
    while pending:
        name = pending.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            path = module_file(code, ".".join(parts[:i]))
            if path is None or path in seen:
                continue
            seen.add(path)
            pending |= _dlbook_imports(path.read_text())
    return sorted(seen)


def _code_cells(text: str) -> list[str]:
    cells, inside, current = [], False, []
    for line in text.splitlines():
        if not inside and line.startswith("```{code-cell}"):
            inside, current = True, []
        elif inside and line.startswith("```"):
            inside = False
            cells.append("\n".join(l for l in current if not l.startswith(":")))
        elif inside:
            current.append(line)
    return cells


GPU_USE = re.compile(r"\bdevice\(\)|default_device\(|\bcuda\b")
LOADERS = {"cifar10": "cifar10", "cifar100": "cifar100", "mnist": "mnist"}
LOADER_CALL = re.compile(r"\b(cifar10|cifar100|mnist)\(([^)]*)\)")


def uses_gpu(chapter: pathlib.Path, root: pathlib.Path) -> bool:
    """Whether a chapter puts work on the GPU: its code cells, or a dlbook
    module it imports (other than runtime, which only asks), call
    ``device()``/``default_device()`` or name CUDA."""
    texts = _code_cells(chapter.read_text())
    texts += [p.read_text() for p in dependency_files(chapter, root)
              if p.suffix == ".py" and p.name != "runtime.py"]
    return any(GPU_USE.search(t) for t in texts)


def archives_needed(chapter: pathlib.Path) -> set[str]:
    """The downloadable archives (dlbook.data.archives names) a chapter reads
    in the full profile: its calls of the loaders (each always reads its
    archive; a quick profile's stand-in is another call)."""
    code = "\n".join(_code_cells(chapter.read_text()))
    return {LOADERS[f] for f, _ in LOADER_CALL.findall(code)}


def _chain_has_cpu(node) -> bool:
    """Whether a method chain ``a.b().c()`` calls ``.cpu()`` (or ``.to("cpu")``)."""
    while isinstance(node, (ast.Call, ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "cpu":
                return True
            if node.func.attr == "to" and any(
                    isinstance(a, ast.Constant) and a.value == "cpu" for a in node.args):
                return True
        node = node.func if isinstance(node, ast.Call) else node.value
    return False


def numpy_without_cpu(source: str) -> list[int]:
    """Lines where a tensor's ``.numpy()`` is called without ``.cpu()`` first in
    the same chain: on a GPU that raises (a tensor already on the CPU passes
    through ``.cpu()`` unchanged, so the rule costs nothing there)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "numpy" and not node.args
            and not _chain_has_cpu(node.func.value)]


def device_mistakes(chapter: pathlib.Path, root: pathlib.Path) -> list[str]:
    """Where a chapter's code sends a tensor to NumPy without ``.cpu()``
    (``numpy_without_cpu``), as ``path: code cell K, line L``."""
    return [f"{chapter.relative_to(root)}: code cell {k + 1}, line {line}"
            for k, cell in enumerate(_code_cells(chapter.read_text()))
            for line in numpy_without_cpu(cell)]


def plan_lanes(chapters: list[str], gpu: dict[str, bool], n_gpus: int) -> dict[str, int | None]:
    """The lane of each chapter, in the given order (longest first): GPU
    chapters go to the GPU lane with the fewest chapters so far (one chapter
    at a time per GPU); the rest, and every chapter when there is no GPU,
    to the CPU pool (None)."""
    load = [0] * n_gpus
    lanes: dict[str, int | None] = {}
    for chapter in chapters:
        if n_gpus and gpu[chapter]:
            lane = min(range(n_gpus), key=lambda i: load[i])
            load[lane] += 1
            lanes[chapter] = lane
        else:
            lanes[chapter] = None
    return lanes


def _pin_lane(lane: int | None) -> None:
    """Pool initializer: the kernels a worker starts see only its GPU, or none."""
    os.environ["CUDA_VISIBLE_DEVICES"] = "" if lane is None else str(lane)


def cell_limits(chapter: str, cells: list[str]) -> list[int]:
    """Full profile: each code cell's time limit from the committed projection
    (a cell the projection does not know, or whose count changed, gets
    FULL_CELL_LIMIT)."""
    try:
        rows = json.loads(PROJECTION.read_text())["chapters"][chapter]["cells"]
    except (OSError, KeyError, ValueError):
        return [FULL_CELL_LIMIT] * len(cells)
    if len(rows) != len(cells):
        return [FULL_CELL_LIMIT] * len(cells)
    return [int(r["limit_seconds"]) for r in rows]


def dependency_key(chapter: pathlib.Path, root: pathlib.Path, profile: str) -> str:
    digest = hashlib.sha256(profile.encode())
    for path in [*dependency_files(chapter, root), *(root / p for p in PINS)]:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def read_notebook(chapter: pathlib.Path):
    """The notebook as myst-nb reads it at build time (with the book's MyST
    extensions, as myst-nb's reader for Markdown notebooks is configured)."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    extensions = set(config.get("parse", {}).get("myst_enable_extensions", []))
    return read_myst_markdown_notebook(
        chapter.read_text(), config=MdParserConfig(enable_extensions=extensions),
        add_source_map=True, path=str(chapter))


# Run in the chapter's kernel after its last cell: what the chapter needed.
# VmHWM is the kernel's own peak resident set (getrusage's ru_maxrss would also
# count the process that forked it); CUDA figures only when CUDA was used.
_RESOURCES = """\
import json as _json, re as _re, sys as _sys
_torch = _sys.modules.get("torch")
_cuda = _torch is not None and _torch.cuda.is_available() and _torch.cuda.is_initialized()
try:
    with open("/proc/self/status") as _f:
        _rss = int(_re.search(r"VmHWM:\\s*(\\d+) kB", _f.read()).group(1)) * 1024
except OSError:
    _rss = None
print(_json.dumps({
    "peak_rss_bytes": _rss,
    "peak_cuda_allocated_bytes": _torch.cuda.max_memory_allocated() if _cuda else None,
    "peak_cuda_reserved_bytes": _torch.cuda.max_memory_reserved() if _cuda else None,
    "cuda_device": _torch.cuda.get_device_name() if _cuda else None,
}))
"""


def _execute(chapter: str, nb, timeout: int | list[int], count: bool = False
             ) -> tuple[str, object, float, str | None, dict]:
    """Run in a worker: execute one chapter's notebook (as read when its key
    was computed) in the chapter's folder, as jupyter-cache's
    ``single_nb_execution`` would, and after its last cell ask the same kernel
    for the chapter's peak memory (see ``_RESOURCES``); that probe's output is
    not kept in the notebook."""
    import traceback

    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from nbformat.v4 import new_code_cell

    used: dict = {"cell_seconds": [], "not_judged": []}
    probing: list = []   # set once the probe has run (the probe is a last cell too)
    code_index = {id(c): k for k, c in enumerate(
        c for c in nb.cells if c.cell_type == "code")}

    class Client(NotebookClient):
        async def async_execute_cell(self, cell, cell_index, execution_count=None,
                                     store_history=True):
            if count and not probing and not used.get("counting"):
                used["counting"] = True
                await self._probe(projection.COUNTER, cell_index)
            start = time.perf_counter()
            result = await super().async_execute_cell(cell, cell_index, execution_count,
                                                      store_history)
            if cell.cell_type == "code" and id(cell) in code_index:
                used["cell_seconds"].append(round(time.perf_counter() - start, 3))
                used["not_judged"] += [
                    line for o in cell.get("outputs", []) if o.get("name") == "stdout"
                    for line in o.get("text", "").splitlines()
                    if line.startswith("not judged")]
            if cell_index == len(self.nb.cells) - 1 and not probing:
                probing.append(True)
                used.update(json.loads(await self._probe(_RESOURCES, cell_index + 1)))
                if count:
                    counts = json.loads(await self._probe(projection.COUNTS, cell_index + 1))
                    used["cell_counts"] = counts[1:1 + len(code_index)]
            return result

        async def _probe(self, source: str, index: int) -> str:
            """Run ``source`` in the kernel, outside the notebook; its stdout."""
            probe = new_code_cell(source)   # nbclient stores it at its index:
            self.nb.cells.insert(index, probe)   # give it one of its own
            try:
                await super().async_execute_cell(probe, index, store_history=False)
            finally:
                self.nb.cells.pop(index)
            return "".join(o.get("text", "") for o in probe.outputs
                           if o.get("name") == "stdout")

    import projection

    settings = nb.metadata.get("execution", {})
    limits = timeout if isinstance(timeout, list) else None

    def limit(cell) -> int | None:   # a list: the full profile's per-cell limits
        if limits is None or id(cell) not in code_index:
            return settings.get("timeout", timeout)
        return limits[code_index[id(cell)]]

    client = Client(nb, timeout=settings.get("timeout", timeout) if limits is None else None,
                    timeout_func=limit if limits is not None else None,
                    allow_errors=settings.get("allow_errors", False), record_timing=False,
                    resources={"metadata": {"path": str(pathlib.Path(chapter).parent)}},
                    # the kernel's own log: without this, each chapter prints a
                    # warning that its local TCP channel is not encrypted
                    extra_arguments=["--IPKernelApp.log_level=ERROR"])
    error = None
    start = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError):
        error = traceback.format_exc()
    return chapter, nb, time.perf_counter() - start, error, used


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--dry-run", action="store_true", help="list stale chapters only")
    parser.add_argument("--cache", help="the execution cache (default: _build/.jupyter_cache, "
                        "or _build_rehearsal/.jupyter_cache with --rehearse)")
    parser.add_argument("--only", nargs="+", metavar="PAGE",
                        help="these pages only, e.g. book/graphs/path-counting (make page)")
    parser.add_argument("--rehearse", action="store_true",
                        help="the full profile with cut lengths and stand-in data (make rehearse)")
    parser.add_argument("--gpus", type=int, help="GPU lanes (default: the CUDA devices "
                        "in the full profile, none otherwise)")
    args = parser.parse_args()

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    sys.path.insert(0, str(ROOT / "code"))
    if args.rehearse:
        os.environ["DLBOOK_REHEARSAL"] = "1"
        os.environ["DLBOOK_PROFILE"] = "full"
        data = REHEARSAL / "data"
        from dlbook.data.archives import stand_in_sums, write_stand_ins
        if stand_in_sums(data) is None:
            write_stand_ins(data)
        os.environ["DLBOOK_DATA"] = str(data)
    from dlbook.runtime import profile, rehearsal

    # Every kernel runs the profile resolved here, whatever devices it sees.
    os.environ["DLBOOK_PROFILE"] = profile()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    full_run = profile() == "full" and not rehearsal()
    key_profile = "full-rehearsal" if rehearsal() else profile()
    reports = REHEARSAL / "reports" if args.rehearse else REPORTS
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    timeout = int(config.get("execute", {}).get("timeout", 300))
    cache_dir = args.cache or str((REHEARSAL if args.rehearse else ROOT / "_build")
                                  / ".jupyter_cache")
    cache = get_cache(cache_dir)
    stale, previous, notebooks = [], {}, {}
    chapters = toc_chapters(ROOT)
    if args.only:
        wanted = {(ROOT / page).with_suffix(".md").resolve() for page in args.only}
        missing = wanted - {c.resolve() for c in chapters}
        if missing:
            parser.error(f"not executable pages of _toc.yml: {sorted(map(str, missing))}")
        chapters = [c for c in chapters if c.resolve() in wanted]
    records = {}
    for chapter in chapters:
        key = dependency_key(chapter, ROOT, key_profile)
        notebooks[str(chapter)] = read_notebook(chapter)
        try:
            record = cache.match_cache_notebook(notebooks[str(chapter)])
        except KeyError:
            record = None
        # a record from before the memory probe existed is executed again,
        # and so is a rehearsal record without the operator counts
        if (record is not None and record.data.get("dependency_key") == key
                and "peak_rss_bytes" in record.data
                and (not args.rehearse or "cell_counts" in record.data)):
            records[str(chapter)] = record.data
            continue
        if record is not None:
            previous[str(chapter)] = record.data.get("execution_seconds", 0.0)
            if not args.dry_run:
                cache.remove_cache(record.pk)
        stale.append((chapter, key))
    rel = lambda p: p.relative_to(ROOT)  # noqa: E731
    print(f"execute: {len(stale)} stale chapter(s) of {len(chapters)}, "
          f"profile {profile()}{' (rehearsal)' if rehearsal() else ''}, {args.jobs} job(s)")
    for chapter, key in stale:
        print(f"  {rel(chapter)}  (key {key})")
    if args.dry_run:
        return 0

    if rehearsal():
        # On the CPU a tensor's .numpy() works wherever it comes from; on a GPU
        # it raises unless the tensor went through .cpu(): find those here.
        mistakes = [m for c in chapters for m in device_mistakes(c, ROOT)]
        if mistakes:
            print("rehearsal: tensors sent to NumPy without .cpu() (this raises on a GPU):\n  "
                  + "\n  ".join(mistakes), file=sys.stderr)
            return 1

    if full_run and stale:
        # The archives are fetched once, before anything runs; chapters never download.
        from dlbook.data.archives import ARCHIVES, FETCH_COMMAND
        from dlbook.data.archives import missing as missing_archives
        from dlbook.data.vision import data_root
        needed = sorted(set().union(*(archives_needed(c) for c, _ in stale)))
        absent = missing_archives(needed) if needed else []
        if absent:
            titles = ", ".join(ARCHIVES[a].title for a in absent)
            print(f"execute: the full profile needs {titles}, not found in {data_root()}.\n"
                  f"Fetch them first (nothing was executed):\n"
                  f"  DLBOOK_DATA={data_root()} {FETCH_COMMAND}   (or: make data)",
                  file=sys.stderr)
            return 1

    keys = {str(c): k for c, k in stale}
    order = sorted(keys, key=lambda c: -previous.get(c, pathlib.Path(c).stat().st_size / 1e4))
    n_gpus = args.gpus
    if n_gpus is None:
        import torch
        n_gpus = torch.cuda.device_count() if full_run else 0
    gpu = {c: uses_gpu(pathlib.Path(c), ROOT) for c in order}
    lanes = plan_lanes(order, gpu, n_gpus)
    cpu_jobs = max(1, args.jobs - n_gpus) if any(l is None for l in lanes.values()) else 0
    # Share the cores between the jobs instead of oversubscribing them (each
    # kernel would otherwise start one BLAS/OpenMP thread per core); measured
    # on 2 cores, 2 jobs: 314 s cold instead of 348 s. An explicit setting wins.
    threads = str(max(1, (os.cpu_count() or 1) // max(1, cpu_jobs + n_gpus)))
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, threads)
    calibration = None
    if args.rehearse and stale:
        import projection
        calibration = projection.calibrate(int(os.environ["OMP_NUM_THREADS"]))
        (REHEARSAL / "calibration.json").write_text(json.dumps(calibration))
    if n_gpus:
        print(f"execute: {sum(l is not None for l in lanes.values())} GPU chapter(s) on "
              f"{n_gpus} GPU lane(s), one at a time per GPU; the others on {cpu_jobs} "
              "CPU job(s) with CUDA hidden")
    failures = 0
    start = time.perf_counter()
    pools = {lane: ProcessPoolExecutor(max_workers=1 if lane is not None else max(1, cpu_jobs),
                                       initializer=_pin_lane if n_gpus else None,
                                       initargs=(lane,) if n_gpus else ())
             for lane in set(lanes.values())}
    try:
        futures = []
        for c in order:
            limit = (cell_limits(str(rel(pathlib.Path(c)).with_suffix("")),
                                 _code_cells(pathlib.Path(c).read_text()))
                     if full_run else timeout)
            futures.append(pools[lanes[c]].submit(_execute, c, notebooks[c], limit,
                                                  args.rehearse))
        for future in as_completed(futures):
            chapter, nb, seconds, error, resources = future.result()
            name = rel(pathlib.Path(chapter))
            resources.pop("counting", None)
            report = reports / f"{name.with_suffix('').as_posix().replace('/', '__')}.log"
            if error is not None:
                failures += 1
                print(f"FAILED {name} after {seconds:.1f} s\n{error}", file=sys.stderr)
                report.parent.mkdir(parents=True, exist_ok=True)
                report.write_text(f"{name} failed after {seconds:.1f} s\n\n{error}\n")
                continue
            report.unlink(missing_ok=True)   # an earlier failure's report
            data = {"execution_seconds": seconds, "dependency_key": keys[chapter],
                    "gpu_lane": lanes[chapter], **resources}
            records[chapter] = data
            cache.cache_notebook_bundle(CacheBundleIn(nb, chapter, data=data),
                                        check_validity=False, overwrite=True)
            # Sphinx re-reads a page only when its source is newer than the
            # last build: mark the re-executed chapter as changed.
            os.utime(chapter)
            judged = len(resources.get("not_judged", []))
            print(f"  executed {name} in {seconds:.1f} s"
                  + (f" ({judged} claim(s) not judged)" if rehearsal() else ""))
    finally:
        for pool in pools.values():
            pool.shutdown()
    print(f"execute: done in {time.perf_counter() - start:.1f} s wall, {failures} failure(s)")
    if rehearsal() and not failures:
        report_rehearsal(records, chapters, rel)
        if not args.only:
            write_projection(records, chapters, rel)
    return 1 if failures else 0


def report_rehearsal(records: dict, chapters: list[pathlib.Path], rel) -> None:
    """Print what the rehearsal ran: per chapter its time and the claims it
    could not judge on cut runs."""
    total = 0.0
    print("rehearsal: chapter, seconds (as last executed), claims not judged")
    for chapter in chapters:
        data = records.get(str(chapter), {})
        total += data.get("execution_seconds", 0.0)
        print(f"  {str(rel(chapter)):<52} {data.get('execution_seconds', 0.0):7.1f}  "
              f"{len(data.get('not_judged', []))}")
    print(f"rehearsal: {len(chapters)} chapter(s), {total:.0f} s of execution in all")


def write_projection(records: dict, chapters: list[pathlib.Path], rel) -> None:
    """benchmarks/full-projection.json from the rehearsal's per-cell records."""
    import projection

    saved = REHEARSAL / "calibration.json"
    if not saved.is_file():
        saved.write_text(json.dumps(projection.calibrate(int(os.environ["OMP_NUM_THREADS"]))))
    calibration = json.loads(saved.read_text())
    rows = {}
    for chapter in chapters:
        data = records[str(chapter)]
        cells = _code_cells(chapter.read_text())
        rows[str(rel(chapter).with_suffix(""))] = {
            "gpu": uses_gpu(chapter, ROOT),
            "not_judged": len(data.get("not_judged", [])),
            **projection.project_chapter(cells, data["cell_seconds"],
                                         data.get("cell_counts", []), calibration),
        }
    result = projection.projection(rows, calibration)
    PROJECTION.write_text(json.dumps(result, indent=1) + "\n")
    print(f"projection: {result['projected_gpu_total_seconds'] / 60:.0f} min on one GPU "
          f"(workflow time-out {result['workflow_timeout_minutes']} min) -> "
          f"{rel(PROJECTION)}")


if __name__ == "__main__":
    sys.exit(main())
