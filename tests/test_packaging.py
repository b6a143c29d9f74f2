"""dlbook as a package: every module imports with the declared core dependencies
alone, and what needs an extra says which one.

The "core-only" environment is simulated in a subprocess whose import system
refuses every package that is not a core dependency of ``code/pyproject.toml``
(the extras' and the test tools' packages), as a fresh ``pip install ./code``
would lack them. ``make test`` also runs deptry, which compares the declared
dependencies with the package's imports.
"""

import json
import pathlib
import subprocess
import sys
import textwrap
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "code" / "pyproject.toml").read_text())

# Top-level modules of the packages that are NOT core dependencies.
NOT_CORE = ["pandas", "rdkit", "datamol", "torchvision", "torch_geometric", "sympy",
            "hypothesis", "pytest", "IPython", "myst_nb", "deptry"]

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
    from dlbook.data import handwritten_digits, load_solubility
    for label, call in (("load_solubility", load_solubility),
                        ("handwritten_digits_full", lambda: handwritten_digits(full=True))):
        try:
            call()
            report[label] = "ok"
        except ImportError as error:
            report[label] = "ImportError: " + str(error)
    report["leaked"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print(json.dumps(report))
""")


@pytest.fixture(scope="module")
def core_only_report():
    result = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(NOT_CORE)],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_blocked_packages_are_not_core_dependencies():
    core = {dep.split(">")[0].split("=")[0].split("<")[0].strip().replace("-", "_").lower()
            for dep in PYPROJECT["project"]["dependencies"]}
    assert not core & {name.lower() for name in NOT_CORE}
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


def test_modules_and_functions_that_need_an_extra_name_it(core_only_report):
    assert "pip install \"dlbook[molecules]\"" in core_only_report["dlbook.molecules"]
    assert "'rdkit'" in core_only_report["dlbook.molecules"]
    assert "pip install \"dlbook[molecules]\"" in core_only_report["load_solubility"]
    assert "pip install \"dlbook[vision]\"" in core_only_report["handwritten_digits_full"]
    assert "'torchvision'" in core_only_report["handwritten_digits_full"]


def test_everything_imports_with_all_extras_installed():
    pytest.importorskip("rdkit")
    pytest.importorskip("torchvision")
    import importlib
    import pkgutil

    import dlbook

    for info in pkgutil.walk_packages(dlbook.__path__, "dlbook."):
        importlib.import_module(info.name)
