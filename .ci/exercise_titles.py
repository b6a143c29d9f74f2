"""Give every exercise its part letter as title and drop the book-wide number.

sphinx-exercise numbers exercises across the whole book ("Exercise 55"); a
reader wants the problem's own part: "Exercise (a)", "Exercise (10c)". This rewrites each
``exercise-start`` block of the given chapters so its title is the part taken
from its label (``<chapter prefix>-<part>``) and adds ``:nonumber:``. Run it
on a new chapter (it is idempotent).

Usage: python .ci/exercise_titles.py book/<part>/<slug>.md ...
"""

import re
import sys

BLOCK = re.compile(r"```\{exercise-start\}[^\n]*\n:label: ([\w-]+)\n(?::nonumber:\n)?```")


def part_title(label: str) -> str:
    """``ap-10c`` -> ``10c``; ``lar-a-ii`` -> ``a-ii``; ``gl-b`` -> ``b``.

    sphinx-exercise shows an unnumbered exercise as "Exercise (<title>)", so
    these read "Exercise (b)", "Exercise (10c)", "Exercise (a-ii)".
    """
    part = label.split("-", 1)[1]
    if not re.fullmatch(r"\d*[a-z]+(-[a-z]+)*", part):
        raise ValueError(f"cannot read a part from label {label!r}")
    return part


def main(paths: list[str]) -> None:
    for path in paths:
        text = open(path).read()
        new = BLOCK.sub(lambda m: f"```{{exercise-start}} {part_title(m[1])}\n"
                                  f":label: {m[1]}\n:nonumber:\n```", text)
        if new != text:
            open(path, "w").write(new)
            print(f"{path}: {len(BLOCK.findall(text))} exercises titled")


if __name__ == "__main__":
    main(sys.argv[1:])
