"""Print the key of a build folder: the pins and the resolved run profile.

`make book` and `make page` clear their build folder when it changes (the
execution cache included). Everything finer is left to .ci/execute.py, which
re-executes only the chapters whose code cells or imported dlbook modules
changed.
"""

import hashlib
import pathlib

from dlbook.runtime import profile

root = pathlib.Path(__file__).resolve().parent.parent
digest = hashlib.sha256()
for path in (root / "code" / "pyproject.toml", root / "requirements.txt"):
    digest.update(str(path.relative_to(root)).encode())
    digest.update(path.read_bytes())
digest.update(profile().encode())
print(f"{profile()}-{digest.hexdigest()[:16]}")
