"""Print the key that decides whether a build's outputs are still valid.

By default it hashes every file of the package (code/), the pins
(requirements.txt) and the resolved run profile: `make page` rebuilds a page
from scratch when it changes. With ``--pins-only`` it leaves the package out:
`make book` clears _build when the pins or the profile change, and leaves the
package to .ci/execute.py, which re-executes only the chapters whose imported
dlbook modules changed.
"""

import hashlib
import pathlib
import sys

from dlbook.runtime import profile

root = pathlib.Path(__file__).resolve().parent.parent
digest = hashlib.sha256()
code = root / "code"
files = sorted(
    p for p in code.rglob("*")
    if p.is_file() and not str(p).endswith(".pyc") and ".egg-info" not in str(p)
    and p.relative_to(code).parts[0] != "build"
    and not any(part.startswith((".", "__pycache__")) for part in p.relative_to(code).parts)
)
if "--pins-only" in sys.argv[1:]:
    files = [code / "pyproject.toml"]
for path in [*files, root / "requirements.txt"]:
    digest.update(str(path.relative_to(root)).encode())
    digest.update(path.read_bytes())
digest.update(profile().encode())
print(f"{profile()}-{digest.hexdigest()[:16]}")
