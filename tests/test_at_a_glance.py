"""The "Answers at a glance" tables stay at a glance: one short line per answer.

A chapter opens with a table, one row per sub-part, the final answer in a line
(CONTRIBUTING.md, "The chapter, top to bottom"). The derivation, the seeds,
the spreads and the round-off figures live in the section the row links to.
This test measures each answer cell as a reader sees it, roughly, without a
build: a glued value counts as GLUE_WIDTH characters (what a number such as
``97.2%`` or ``0.0068`` prints), a role with a link text counts its text, and
inline math counts its symbols, not its LaTeX markup.

The limit, LIMIT characters, keeps a row to one line, two at most: the text
column fits 80 characters of code (tests/test_chapters.py, WIDTH), and a
table's proportional text, at the size of the code, fits about a fifth more,
some 95 characters, of which the part column takes about ten. A row at the
limit so wraps at most once; the rows it stops are the ones that had grown
into paragraphs (seven lines for one answer, lists of per-seed values), which
a reader cannot take in at a glance. Most rows are far shorter (median about
70 characters).
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
LIMIT = 110        # characters of an answer cell, measured by glance_length
GLUE_WIDTH = 6     # what a glued number prints, e.g. "97.2%", "0.0068"
TABLE = re.compile(r"^## Answers at a glance\n+(?P<table>(?:\|[^\n]*\n)+)", re.M)
GLUE = re.compile(r"\{glue(?::(?:text|md))?\}`[^`]*`")
ROLE_TEXT = re.compile(r"\{[\w:-]+\}`(?P<text>[^`<]*?)\s*<[^`>]*>`")
ROLE = re.compile(r"\{[\w:-]+\}`(?P<target>[^`]*)`")
MATH = re.compile(r"\$(?P<tex>[^$]+)\$")
# LaTeX that prints its argument or nothing: \text{out} prints "out"
SILENT = re.compile(r"\\(?:text|operatorname|mathrm|mathbf|mathbb|mathcal|"
                    r"big|Big|bigl|bigr|left|right|tfrac|dfrac|frac|,|;|!| )")
COMMAND = re.compile(r"\\[A-Za-z]+")   # any other command prints one symbol


def chapters():
    return sorted(p for p in (ROOT / "book").rglob("*.md")
                  if TABLE.search(p.read_text()))


def answers(text):
    """(part, answer) of every row of the chapter's at-a-glance table."""
    found = TABLE.search(text)
    if found is None:
        return []
    rows = found["table"].splitlines()[2:]   # after the header and |---|---|
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", row.strip()[1:-1])]
             for row in rows]
    return [(cell[0], " | ".join(cell[1:])) for cell in cells]


def _math_width(tex):
    tex = SILENT.sub("", tex)
    tex = COMMAND.sub("x", tex)
    return len(re.sub(r"[{}^_\s]", "", tex))


def glance_length(cell):
    """About how many characters the rendered answer cell shows."""
    cell = GLUE.sub("0" * GLUE_WIDTH, cell)
    cell = ROLE_TEXT.sub(lambda m: m["text"], cell)
    cell = ROLE.sub(lambda m: m["target"], cell)
    cell = MATH.sub(lambda m: "x" * _math_width(m["tex"]), cell)
    cell = cell.replace("**", "").replace("`", "")
    return len(cell)


def test_the_measure():
    glued = "CNN {glue:text}`a_cnn_val:.1%`, MLP {glue:text}`a_mlp_val:.1%`"
    assert glance_length(glued) == len("CNN 000000, MLP 000000")
    linked = "not 255 ({ref}`correction <mup-unit-scale-count>`)"
    assert glance_length(linked) == len("not 255 (correction)")
    math = r"$\lVert\Delta W\rVert_2 \le \sqrt{d_{\text{out}}}$"
    assert glance_length(math) == len("‖ΔW‖2≤√dout")
    assert glance_length("**yes**") == 3
    table = ("## Answers at a glance\n\n| part | answer |\n|---|---|\n"
             "| {ref}`(a) <x-a>` | one $a|b$ line |\n| (b) | two |\n\n## (a)\n")
    assert answers(table) == [("{ref}`(a) <x-a>`", "one $a | b$ line"), ("(b)", "two")]


def test_every_chapter_has_a_table():
    # the test below must see the chapters; CONTRIBUTING.md requires a table
    assert len(chapters()) >= 28


@pytest.mark.parametrize("path", chapters(),
                         ids=lambda p: p.relative_to(ROOT / "book").with_suffix("").as_posix())
def test_answers_fit_a_glance(path):
    long = [f"{part}: {glance_length(answer)} characters: {answer[:60]}..."
            for part, answer in answers(path.read_text())
            if glance_length(answer) > LIMIT]
    assert not long, (
        f"at-a-glance answers over {LIMIT} characters (one line; the detail "
        "belongs in the section the row links to):\n" + "\n".join(long))
