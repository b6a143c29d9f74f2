"""README's "Using the package on its own": the install lines work as
written in a fresh venv, every Python example runs as written there (and in
a fresh interpreter here), and the install table names the extras that
code/pyproject.toml declares."""

import pathlib
import re
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import linked_venv  # noqa: E402

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


def test_the_install_lines_and_examples_work_in_a_fresh_venv(tmp_path):
    """Each `pip install` line of the section's shell block, run as written
    by the pip of a fresh venv from the repository root, installs dlbook
    from ./code (a built wheel, not the checkout); every example then runs
    with that venv's Python outside the checkout. The dependencies are
    linked in from this environment (tests/linked_venv.py), so pip finds
    them installed and downloads only its build backend; the line that
    installs PyTorch's CPU build from PyTorch's own index is the one not
    run (no such index here, and the linked PyTorch satisfies it)."""
    needs = linked_venv.user_requirements(ROOT / "code" / "pyproject.toml")
    python = linked_venv.make(tmp_path, needs, with_pip=True)
    assert "dlbook" not in linked_venv.importable(python, ["dlbook"])
    shell = re.search(r"```bash\n(.*?)```", SECTION, re.S).group(1)
    lines = [line.split("#")[0].strip() for line in shell.splitlines()]
    installs = [line for line in lines if line.startswith("pip install")]
    assert installs[1:] == ["pip install ./code", 'pip install "./code[vision]"',
                            'pip install "./code[molecules]"']
    assert "download.pytorch.org/whl/cpu" in installs[0]
    for line in installs[1:]:
        args = [a.strip('"') for a in line.split()[2:]]
        result = subprocess.run([python, "-m", "pip", "install", "--quiet", *args],
                                capture_output=True, text=True, timeout=600, cwd=ROOT)
        assert result.returncode == 0, (line, result.stderr[-2000:])
    where = subprocess.run([python, "-c", "import dlbook; print(dlbook.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path)
    assert str(tmp_path / "venv") in where.stdout, where.stdout
    for example in EXAMPLES:
        result = subprocess.run([python, "-c", example], capture_output=True,
                                text=True, timeout=300, cwd=tmp_path)
        assert result.returncode == 0, (example.splitlines()[0], result.stderr[-2000:])
