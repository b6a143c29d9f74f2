"""Find numbers typed into the prose of the book's pages.

A number that a cell computes reaches the prose through myst-nb's glue, so
that a rebuild can never leave the text saying something the output no
longer says (CONTRIBUTING.md, "Numbers reach the prose by glue"). This
module reads a page the way MyST does (markdown-it with the MyST plugins)
and lists every decimal number (``0.25``) and percentage (``95%``, ``12.5 %``)
left in its running text. It does not look at:

* code cells and every other directive whose body is not prose
  (``literalinclude``, ``math``, ``glue``, ``figure`` options, tables of data),
* math (``$...$``, ``$$...$$``, ``{math}`` roles and ``amsmath`` blocks),
* roles of any kind (``{glue:text}`key:.3f```, ``{cite:p}``, ``{ref}``) and
  inline code,
* the problem statements (``exercise-start`` ... ``exercise-end``, and the
  body of an ``{exercise}`` directive): the problem's own numbers.

The bodies of admonitions, proofs, solutions, dropdowns, margins and
sidebars are prose and are read.

What remains must be glued, or be one of the numbers a page may type: a
constant of the problem (a learning rate, a split fraction, a threshold the
text sets), a figure the source states and the page quotes, a version number
or a setting. Those are listed with their reason in
``tests/typed_numbers_allowed.yml``; ``tests/test_typed_numbers.py`` fails on
any number outside that list, and on any entry of the list that no longer
matches the page (so the list cannot go stale).

Usage: python .ci/typed_numbers.py [PATH ...]   (default: book)
Prints ``file:line: number | context`` for each hit, marking the allowed ones,
and exits 1 when a hit is not allowed.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import sys
from collections.abc import Iterator

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.amsmath import amsmath_plugin
from mdit_py_plugins.colon_fence import colon_fence_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.myst_blocks import myst_block_plugin
from mdit_py_plugins.myst_role import myst_role_plugin

ROOT = pathlib.Path(__file__).resolve().parent.parent
ALLOWLIST = ROOT / "tests" / "typed_numbers_allowed.yml"

# A decimal number (also in scientific notation, 2.5e-3 or 1e-4) or a
# percentage standing on its own: not part of a word, a version string
# ("v1.2.3"), a label ("fig-1.5") or a longer number.
NUMBER = re.compile(
    r"(?<![\w.\\/-])"
    r"(\d+\.\d+(?:[eE][-+]?\d+)?(?:\s?%)?|\d+[eE][-+]?\d+|\d+\s?%)"
    r"(?![\w.]\d|\w)"
)

# Directives whose body is running text (read); every other directive's body
# is skipped (code, includes, math, figures' options, glue, ...).
PROSE_DIRECTIVES = (
    "admonition", "note", "warning", "tip", "important", "caution",
    "attention", "hint", "danger", "error", "seealso", "dropdown", "margin",
    "sidebar", "topic", "epigraph", "solution", "solution-start",
    "solution-end", "card", "div",
)
ROLES_SKIPPED = ("myst_role", "code_inline", "math_inline", "math_single",
                 "math_inline_double", "html_inline")


def _parser() -> MarkdownIt:
    return (
        MarkdownIt("commonmark")
        .enable("table")
        .use(front_matter_plugin)
        .use(myst_block_plugin)
        .use(myst_role_plugin)
        .use(dollarmath_plugin)
        .use(amsmath_plugin)
        .use(colon_fence_plugin)
    )


@dataclasses.dataclass(frozen=True)
class Hit:
    """One number typed into prose: where, what, and the line around it."""

    path: str      # relative to the repository root, e.g. book/cnn/x.md
    line: int      # 1-based line of the page
    number: str    # as typed, e.g. "0.03" or "95%"
    context: str   # the prose of that line, roles and math removed

    def __str__(self) -> str:
        at = self.context.find(self.number)
        near = self.context[max(0, at - 50): at + 50]
        return f"{self.path}:{self.line}: {self.number}  | {near}"


def _directive(info: str) -> str | None:
    """The directive's name of a fence's info string (``{note} Title``)."""
    found = re.match(r"\{([\w:-]+)\}", info.strip())
    return found[1] if found else None


def _body(content: str) -> tuple[str, int]:
    """A directive's body without its ``:option:`` lines (and the number of
    lines dropped before it)."""
    lines = content.splitlines()
    skip = 0
    if lines and lines[0].strip() == "---":          # YAML options block
        end = next((i for i, l in enumerate(lines[1:], 1) if l.strip() == "---"), 0)
        skip = end + 1
    while skip < len(lines) and re.match(r"\s*:[\w-]+:", lines[skip]):
        skip += 1
    return "\n".join(lines[skip:]), skip


def _inline_text(token: Token, first_line: int) -> Iterator[tuple[int, str]]:
    """(line, text) of an inline token, with roles, code and math removed."""
    line, parts = first_line, []
    for child in token.children or []:
        if child.type in ("softbreak", "hardbreak"):
            yield line, " ".join(parts)
            line, parts = line + 1, []
        elif child.type == "text":
            parts.append(child.content)
        elif child.type in ROLES_SKIPPED:
            parts.append(" ")
    yield line, " ".join(parts)


def prose(text: str, offset: int = 0, md: MarkdownIt | None = None
          ) -> Iterator[tuple[int, str]]:
    """(line number, prose) of a MyST page, outside problem statements."""
    md = md or _parser()
    in_exercise = False
    for token in md.parse(text):
        if token.type in ("fence", "colon_fence"):
            name = _directive(token.info)
            if name == "exercise-start":
                in_exercise = True
            elif name == "exercise-end":
                in_exercise = False
            elif (name in PROSE_DIRECTIVES or (name or "").startswith("prf:")) \
                    and not in_exercise:
                body, dropped = _body(token.content)
                start = (token.map[0] if token.map else 0) + 1 + dropped
                yield from prose(body, offset + start, md)
            continue
        if in_exercise or token.type != "inline" or not token.map:
            continue
        for line, words in _inline_text(token, offset + token.map[0] + 1):
            if words.strip() and not words.strip().startswith("+++"):
                yield line, words


def typed_numbers(path: pathlib.Path, root: pathlib.Path = ROOT) -> list[Hit]:
    """Every decimal number and percentage typed into the page's prose."""
    rel = path.resolve().relative_to(root).as_posix() if path.is_absolute() \
        else path.as_posix()
    hits = []
    for line, words in prose(path.read_text()):
        context = re.sub(r"\s+", " ", words).strip()
        hits += [Hit(rel, line, m[1], context) for m in NUMBER.finditer(context)]
    return hits


def pages(paths: list[pathlib.Path]) -> list[pathlib.Path]:
    """The .md pages under the given files and folders, sorted."""
    found: list[pathlib.Path] = []
    for p in paths:
        found += sorted(p.rglob("*.md")) if p.is_dir() else [p]
    return found


@dataclasses.dataclass(frozen=True)
class Allowed:
    """An entry of the allowlist: a number the page may type, and why."""

    path: str
    number: str
    near: str      # words of the same line that pin down which occurrence
    kind: str      # constant | source | setting | derived | version
    reason: str

    def matches(self, hit: Hit) -> bool:
        return (hit.path == self.path and hit.number == self.number
                and self.near in hit.context)


KINDS = {
    "constant": "a constant of the problem or a threshold the text sets",
    "source": "the source's own figure, quoted as the source states it",
    "setting": "a setting of a run or of the book (learning rate, split)",
    "derived": "follows from a derivation or from constants on the page",
    "version": "a software version",
}


def load_allowlist(path: pathlib.Path = ALLOWLIST) -> list[Allowed]:
    """The allowlist: ``{page: [{number, near, kind, reason}, ...]}``."""
    data = yaml.safe_load(path.read_text()) or {}
    return [Allowed(page, str(e["number"]), str(e["near"]), e["kind"], e["reason"])
            for page, entries in data.items() for e in entries]


def main(argv: list[str]) -> int:
    hits = [h for p in pages([pathlib.Path(a) for a in argv or ["book"]])
            for h in typed_numbers(p)]
    allowed = load_allowlist()
    bad = 0
    for hit in hits:
        ok = any(a.matches(hit) for a in allowed)
        bad += not ok
        print(("  allowed " if ok else "NOT ALLOWED ") + str(hit))
    print(f"{len(hits)} typed numbers in prose, {bad} not in "
          f"{ALLOWLIST.relative_to(ROOT)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
