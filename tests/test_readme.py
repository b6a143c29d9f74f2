"""README's "Using the package on its own": every Python example runs as
written, in a fresh interpreter, and the install table names the extras that
code/pyproject.toml declares."""

import pathlib
import re
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SECTION = README.split("## Using the package on its own", 1)[1].split("\n## ", 1)[0]
EXAMPLES = re.findall(r"```python\n(.*?)```", SECTION, re.S)


def test_the_section_has_an_example_per_part():
    assert len(EXAMPLES) >= 6
    for part in ("Graphs", "Optimization", "Convolutional", "Regularization",
                 "Systems", "Attention"):
        assert any(e.startswith(f"# {part}") for e in EXAMPLES), part


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.splitlines()[0][2:30])
def test_each_example_runs_as_written(example, tmp_path):
    result = subprocess.run([sys.executable, "-c", example], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_install_lines_name_the_declared_extras():
    declared = set(tomllib.loads((ROOT / "code" / "pyproject.toml").read_text())
                   ["project"]["optional-dependencies"]) - {"test"}
    named = set(re.findall(r'pip install "\./code\[(\w+)\]"', SECTION))
    assert named == declared
    assert "pip install ./code" in SECTION


def test_the_install_table_lists_what_each_extra_adds():
    # the "adds" column of each extra's row names exactly its requirements
    from packaging.requirements import Requirement

    extras = tomllib.loads((ROOT / "code" / "pyproject.toml").read_text())[
        "project"]["optional-dependencies"]
    rows = dict(re.findall(r"^\| `\./code\[(\w+)\]` \| ([^|]*) \|", SECTION, re.M))
    assert set(rows) == set(extras) - {"test"}
    for extra, adds in rows.items():
        named = {name.strip().lower() for name in adds.split(",")}
        assert named == {Requirement(r).name.lower() for r in extras[extra]}, extra
