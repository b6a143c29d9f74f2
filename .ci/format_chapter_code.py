"""Format the code cells of MyST chapters with ruff, 80 columns wide.

Each chapter's code cells are copied into a temporary notebook, formatted by
``ruff format --line-length 80`` (notebook mode keeps a cell's closing ``;``,
which hides a plot's return value) and written back in place. Lines ruff
cannot shorten (long strings, comments) are reported for a hand edit;
``tests/test_chapters.py`` fails on any code line wider than 80 columns.

Usage: python .ci/format_chapter_code.py book/<part>/<slug>.md ...
"""

import json
import pathlib
import re
import subprocess
import sys
import tempfile

CELL = re.compile(r"(```\{code-cell\}[^\n]*\n(?::[^\n]*\n)*)(.*?)(^```$)", re.S | re.M)


def format_chapter(path: pathlib.Path) -> list[str]:
    text = path.read_text()
    cells = list(CELL.finditer(text))
    notebook = {
        "cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                   "source": m[2].rstrip("\n")} for m in cells],
        "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5,
    }
    with tempfile.TemporaryDirectory() as tmp:
        file = pathlib.Path(tmp) / "chapter.ipynb"
        file.write_text(json.dumps(notebook))
        subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", "--line-length", "80",
                        "--isolated", str(file)], check=True)
        sources = ["".join(c["source"]) for c in json.loads(file.read_text())["cells"]]
    out, last = [], 0
    for match, source in zip(cells, sources):
        out += [text[last:match.start(2)], source.rstrip("\n") + "\n"]
        last = match.start(3)
    out.append(text[last:])
    new = "".join(out)
    if new != text:
        path.write_text(new)
    return [f"{path}:{text[:m.start()].count(chr(10)) + 1 + i}: {len(line)}"
            for m in CELL.finditer(new) for i, line in enumerate(m[2].splitlines(), 1)
            if len(line) > 80]


if __name__ == "__main__":
    for name in sys.argv[1:]:
        for report in format_chapter(pathlib.Path(name)):
            print(report)
