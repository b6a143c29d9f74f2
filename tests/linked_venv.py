"""A fresh virtual environment that holds exactly some distributions, for
tests that must run where the book's tools are not installed.

Installing PyTorch into a new venv costs 5.5 GB and minutes, so the
environment borrows the installed copies instead: its site-packages names
one folder (a ``.pth`` file) of links to the top-level modules and metadata
of the distributions asked for and everything they require, read from the
installed metadata with each requirement's extras followed. Anything else
installed here (myst_nb, Sphinx, pytest, the book's tools) cannot be
imported there, and pip in that venv sees the linked distributions as
installed.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import sysconfig
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def user_requirements(pyproject: pathlib.Path) -> list[str]:
    """What ``pip install "./code[<every extra>]"`` asks for: the core
    dependencies and those of each extra but ``test`` (the project's own)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return [*project["dependencies"], *(
        line for extra, lines in project["optional-dependencies"].items()
        if extra != "test" for line in lines)]


def closure(requirements: list[str]) -> set[str]:
    """Canonical names of the installed distributions that ``requirements``
    (PEP 508 strings, extras allowed) need, themselves included."""
    todo, seen = list(requirements), set()
    while todo:
        req = Requirement(todo.pop())
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.distribution(req.name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            child = Requirement(line)
            if child.marker is None or any(child.marker.evaluate({"extra": e})
                                           for e in {"", *req.extras}):
                extras = f"[{','.join(sorted(child.extras))}]" if child.extras else ""
                todo.append(child.name + extras)
    return {name for name, _ in seen}


def make(path: pathlib.Path, requirements: list[str], *, with_pip: bool = False,
         extra_links: dict[str, pathlib.Path] | None = None) -> pathlib.Path:
    """Create the venv at ``path`` with the distributions ``requirements``
    need (and ``extra_links``: name -> folder, linked as is); return its
    Python."""
    venv, links = path / "venv", path / "packages"
    args = [] if with_pip else ["--without-pip"]
    subprocess.run([sys.executable, "-m", "venv", *args, str(venv)], check=True)
    links.mkdir()
    wanted = closure(requirements)
    site = pathlib.Path(sysconfig.get_paths()["purelib"])
    for dist in metadata.distributions():
        if canonicalize_name(dist.metadata["Name"]) not in wanted:
            continue
        for top in {f.parts[0] for f in dist.files or []} - {"..", "__pycache__"}:
            if (site / top).exists() and not (links / top).exists():
                (links / top).symlink_to(site / top)
    for name, target in (extra_links or {}).items():
        (links / name).symlink_to(target)
    python = venv / "bin" / "python"
    venv_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    (pathlib.Path(venv_site) / "linked-packages.pth").write_text(f"{links}\n")
    return python


def importable(python: pathlib.Path, modules: list[str]) -> list[str]:
    """Which of ``modules`` the venv's Python finds."""
    probe = ("import importlib.util, sys; print(' '.join(m for m in sys.argv[1:] "
             "if importlib.util.find_spec(m)))")
    found = subprocess.run([python, "-c", probe, *modules], capture_output=True,
                           text=True, check=True)
    return found.stdout.split()
