"""Print the key that decides whether the book's executed outputs are still valid.

It hashes every file of the package (code/), the pins (requirements.txt) and
the resolved run profile, so editing dlbook or switching profile re-executes
the chapters, and an unchanged tree executes nothing.
"""

import hashlib
import pathlib

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
for path in [*files, root / "requirements.txt"]:
    digest.update(str(path.relative_to(root)).encode())
    digest.update(path.read_bytes())
digest.update(profile().encode())
print(f"{profile()}-{digest.hexdigest()[:16]}")
