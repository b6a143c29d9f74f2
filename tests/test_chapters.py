"""Checks of the chapter sources that need no build: exercise numbering and the
width of the code a page shows (code cells and the package code it includes)."""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAPTERS = sorted(p for p in (ROOT / "book").rglob("*.md")
                  if "```{code-cell}" in p.read_text() and p.name != "reproducibility.md")
WIDTH = 80   # characters that fit the content column without a sideways scroll
EXERCISE = re.compile(r"```\{exercise-start\}(?P<title>[^\n]*)\n(?P<options>(?::[^\n]*\n)*)```")
INCLUDE = re.compile(r"```\{literalinclude\} (?P<path>\S+)\n(?P<options>(?::[^\n]*\n)*)")


def _ids(paths):
    return [p.relative_to(ROOT / "book").with_suffix("").as_posix() for p in paths]


def code_cell_lines(text):
    """(line number, line) of every line inside a ``{code-cell}`` block."""
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```{code-cell}"):
            inside = True
        elif inside and line.startswith("```"):
            inside = False
        elif inside and not line.startswith(":tags:"):
            yield number, line


def included_lines(chapter, text):
    """(object, line) of every line of the package objects a chapter includes."""
    for match in INCLUDE.finditer(text):
        source = (chapter.parent / match["path"]).resolve()
        found = re.search(r":pyobject: (\S+)", match["options"])
        lines = source.read_text().splitlines()
        if not found:
            yield from ((match["path"], line) for line in lines)
            continue
        name = found[1].split(".")[-1]
        node = next(n for n in ast.walk(ast.parse(source.read_text()))
                    if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name)
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        yield from ((found[1], line) for line in lines[start - 1:node.end_lineno])


@pytest.mark.parametrize("chapter", CHAPTERS, ids=_ids(CHAPTERS))
def test_exercises_are_titled_by_part_and_not_numbered_book_wide(chapter):
    blocks = list(EXERCISE.finditer(chapter.read_text()))
    assert blocks, "a chapter restates its problem in exercise blocks"
    for block in blocks:
        assert block["title"].strip(), f"untitled exercise: {block[0]!r}"
        assert ":nonumber:" in block["options"], f"numbered book-wide: {block[0]!r}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=_ids(CHAPTERS))
def test_code_shown_fits_the_column(chapter):
    text = chapter.read_text()
    wide = [f"line {n}: {len(line)} chars" for n, line in code_cell_lines(text) if len(line) > WIDTH]
    wide += [f"{name}: {len(line)} chars: {line.strip()[:40]}"
             for name, line in included_lines(chapter, text) if len(line) > WIDTH]
    assert not wide, f"{len(wide)} lines wider than {WIDTH}: {wide[:8]}"
