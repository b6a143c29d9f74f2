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

Usage: python .ci/execute.py [--jobs N] [--dry-run] [--cache DIR] [--only PAGE ...]
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


def _execute(chapter: str, nb, timeout: int) -> tuple[str, object, float, str | None, dict]:
    """Run in a worker: execute one chapter's notebook (as read when its key
    was computed) in the chapter's folder, as jupyter-cache's
    ``single_nb_execution`` would, and after its last cell ask the same kernel
    for the chapter's peak memory (see ``_RESOURCES``); that probe's output is
    not kept in the notebook."""
    import traceback

    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from nbformat.v4 import new_code_cell

    used: dict = {}
    probing: list = []   # set once the probe has run (the probe is a last cell too)

    class Client(NotebookClient):
        async def async_execute_cell(self, cell, cell_index, execution_count=None,
                                     store_history=True):
            result = await super().async_execute_cell(cell, cell_index, execution_count,
                                                      store_history)
            if cell_index == len(self.nb.cells) - 1 and not probing:
                probing.append(True)
                probe = new_code_cell(_RESOURCES)   # nbclient stores it at its index:
                self.nb.cells.append(probe)        # give it one of its own
                try:
                    await super().async_execute_cell(probe, cell_index + 1,
                                                     store_history=False)
                finally:
                    self.nb.cells.pop()
                text = "".join(o.get("text", "") for o in probe.outputs
                               if o.get("name") == "stdout")
                used.update(json.loads(text))
            return result

    settings = nb.metadata.get("execution", {})
    client = Client(nb, timeout=settings.get("timeout", timeout),
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
    parser.add_argument("--cache", default=str(ROOT / "_build" / ".jupyter_cache"))
    parser.add_argument("--only", nargs="+", metavar="PAGE",
                        help="these pages only, e.g. book/graphs/path-counting (make page)")
    args = parser.parse_args()

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    sys.path.insert(0, str(ROOT / "code"))
    from dlbook.runtime import profile

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    timeout = int(config.get("execute", {}).get("timeout", 300))
    cache = get_cache(args.cache)
    stale, previous, notebooks = [], {}, {}
    chapters = toc_chapters(ROOT)
    if args.only:
        wanted = {(ROOT / page).with_suffix(".md").resolve() for page in args.only}
        missing = wanted - {c.resolve() for c in chapters}
        if missing:
            parser.error(f"not executable pages of _toc.yml: {sorted(map(str, missing))}")
        chapters = [c for c in chapters if c.resolve() in wanted]
    for chapter in chapters:
        key = dependency_key(chapter, ROOT, profile())
        notebooks[str(chapter)] = read_notebook(chapter)
        try:
            record = cache.match_cache_notebook(notebooks[str(chapter)])
        except KeyError:
            record = None
        # a record from before the memory probe existed is executed again
        if (record is not None and record.data.get("dependency_key") == key
                and "peak_rss_bytes" in record.data):
            continue
        if record is not None:
            previous[str(chapter)] = record.data.get("execution_seconds", 0.0)
            if not args.dry_run:
                cache.remove_cache(record.pk)
        stale.append((chapter, key))
    rel = lambda p: p.relative_to(ROOT)  # noqa: E731
    print(f"execute: {len(stale)} stale chapter(s) of {len(chapters)}, "
          f"profile {profile()}, {args.jobs} job(s)")
    for chapter, key in stale:
        print(f"  {rel(chapter)}  (key {key})")
    if args.dry_run or not stale:
        return 0

    keys = {str(c): k for c, k in stale}
    # Share the cores between the jobs instead of oversubscribing them (each
    # kernel would otherwise start one BLAS/OpenMP thread per core); measured
    # on 2 cores, 2 jobs: 314 s cold instead of 348 s. An explicit setting wins.
    threads = str(max(1, (os.cpu_count() or 1) // max(1, args.jobs)))
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, threads)
    order = sorted(keys, key=lambda c: -previous.get(c, pathlib.Path(c).stat().st_size / 1e4))
    failures = 0
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(_execute, c, notebooks[c], timeout) for c in order]
        for future in as_completed(futures):
            chapter, nb, seconds, error, resources = future.result()
            name = rel(pathlib.Path(chapter))
            if error is not None:
                failures += 1
                print(f"FAILED {name} after {seconds:.1f} s\n{error}", file=sys.stderr)
                report = REPORTS / f"{name.with_suffix('').as_posix().replace('/', '__')}.log"
                report.parent.mkdir(parents=True, exist_ok=True)
                report.write_text(f"{name} failed after {seconds:.1f} s\n\n{error}\n")
                continue
            cache.cache_notebook_bundle(
                CacheBundleIn(nb, chapter, data={"execution_seconds": seconds,
                                                 "dependency_key": keys[chapter],
                                                 **resources}),
                check_validity=False, overwrite=True)
            # Sphinx re-reads a page only when its source is newer than the
            # last build: mark the re-executed chapter as changed.
            os.utime(chapter)
            print(f"  executed {name} in {seconds:.1f} s")
    print(f"execute: done in {time.perf_counter() - start:.1f} s wall, {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
