"""The build key that decides when executed outputs are stale (`make book` and
`make page`): it must change with the package, the pins and the profile, and
nothing else."""

import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _key(tree, profile="quick"):
    env = {**os.environ, "DLBOOK_PROFILE": profile}
    result = subprocess.run([sys.executable, str(tree / ".ci" / "build_key.py")],
                            capture_output=True, text=True, env=env, check=True)
    return result.stdout.strip()


def test_key_changes_with_package_pins_and_profile_only(tmp_path):
    for part in (".ci", "code"):
        shutil.copytree(ROOT / part, tmp_path / part,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    shutil.copy(ROOT / "requirements.txt", tmp_path)
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "page.md").write_text("prose")
    base = _key(tmp_path)
    assert base == _key(tmp_path)                                  # deterministic
    (tmp_path / "book" / "page.md").write_text("other prose")      # not part of the key
    assert _key(tmp_path) == base
    assert _key(tmp_path, "full") != base                          # profile
    module = tmp_path / "code" / "dlbook" / "attention.py"
    module.write_text(module.read_text() + "\n# planted edit\n")
    edited = _key(tmp_path)
    assert edited != base                                          # package
    pins = tmp_path / "requirements.txt"
    pins.write_text(pins.read_text() + "\n# a new pin\n")
    assert _key(tmp_path) not in (base, edited)                    # pins


def test_both_build_targets_use_the_key():
    makefile = (ROOT / "Makefile").read_text()
    book = makefile.split("\nbook:")[1].split("\n\n")[0]
    page = makefile.split("\npage:")[1].split("\n\n")[0]
    for recipe in (book, page):
        assert ".ci/build_key.py" in recipe and "rm -rf" in recipe
