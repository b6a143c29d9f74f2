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
files = sorted(
    p for p in (root / "code").rglob("*")
    if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p)
)
for path in [*files, root / "requirements.txt"]:
    digest.update(str(path.relative_to(root)).encode())
    digest.update(path.read_bytes())
digest.update(profile().encode())
print(f"{profile()}-{digest.hexdigest()[:16]}")
