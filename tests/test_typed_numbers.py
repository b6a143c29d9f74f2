"""Numbers reach the prose by glue (CONTRIBUTING.md): no page types a decimal
number or a percentage into its running text unless
tests/typed_numbers_allowed.yml lists it with the reason it is not a result.
The check itself is .ci/typed_numbers.py (also a command: it lists every hit)."""

import importlib.util
import pathlib
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("typed_numbers", ROOT / ".ci" / "typed_numbers.py")
tn = importlib.util.module_from_spec(_spec)
sys.modules["typed_numbers"] = tn   # dataclasses look the module up
_spec.loader.exec_module(tn)

PAGES = tn.pages([ROOT / "book"])
ALLOWED = tn.load_allowlist()


def _ids(paths):
    return [p.relative_to(ROOT / "book").with_suffix("").as_posix() for p in paths]


def _hits(text, tmp_path, name="book/part/page.md"):
    page = tmp_path / name
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(textwrap.dedent(text))
    return tn.typed_numbers(page, root=tmp_path)


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_numbers_in_prose_are_glued_or_allowed_with_a_reason(page):
    hits = tn.typed_numbers(page)
    typed = [str(h) for h in hits if not any(a.matches(h) for a in ALLOWED)]
    assert not typed, (
        f"{len(typed)} number(s) typed into the prose: glue what a cell computes "
        "({glue:text}`key:.3f`); a constant of the problem, a figure the source "
        "states, a setting or a version goes to tests/typed_numbers_allowed.yml "
        "with its reason:\n" + "\n".join(typed))


def test_every_allowlist_entry_still_matches_its_page():
    hits = [h for p in PAGES for h in tn.typed_numbers(p)]
    stale = [a for a in ALLOWED if not any(a.matches(h) for h in hits)]
    assert not stale, f"entries that match nothing (delete them): {stale}"


def test_every_allowlist_entry_says_why():
    for entry in ALLOWED:
        assert (ROOT / entry.path).is_file(), entry
        assert entry.kind in tn.KINDS, f"kind must be one of {sorted(tn.KINDS)}: {entry}"
        assert len(entry.reason.split()) >= 3, f"say why the number may be typed: {entry}"
        assert entry.near.strip(), entry


def test_a_computed_number_typed_into_a_chapter_fails(tmp_path):
    """Replace one glued figure of a real chapter by the number it shows: the
    check finds it and the allowlist does not cover it."""
    rel = "book/graphs/path-counting.md"
    text = (ROOT / rel).read_text()
    glued = "{glue:text}`c_lambda:.3f` to within 1%"
    assert glued in text, "pick another glued figure for this test"
    hits = _hits(text.replace(glued, "2.343 to within 1%", 1), tmp_path, rel)
    typed = [h for h in hits if not any(a.matches(h) for a in ALLOWED)]
    assert [h.number for h in typed] == ["2.343"]
    # and the unchanged chapter passes
    assert not [h for h in _hits(text, tmp_path, rel) if not any(a.matches(h) for a in ALLOWED)]


def test_what_is_read_and_what_is_skipped(tmp_path):
    hits = _hits("""\
        ---
        jupytext: {version: 1.5}
        ---
        # A page 0.1

        The loss fell to 0.37 (2.5e-3, 1e-4 a step) and accuracy to 91%.
        Glued: {glue:text}`acc:.1%` and {glue:text}`loss:.2f`; math $x = 0.5$;
        code `lr=0.25`; a role {ref}`fig 2.5 <lbl>`; a label fig-1.5, v1.2.3.

        $$
        y = 0.75 x
        $$

        ```{code-cell} ipython3
        glue("loss", 0.37)
        ```

        ```{exercise-start} a
        :label: p-a
        :nonumber:
        ```
        Train with learning rate 0.03 on 80% of the data (the problem's own).
        ```{exercise-end}
        ```

        ```{solution-start} p-a
        ```
        The solution says 12.5 % here,
        across a line break: 0.66.
        ```{solution-end}
        ```

        :::{note}
        :class: dropdown
        An admonition's 4.5 counts.
        :::

        ```{literalinclude} x.py
        :lines: 1.5
        ```

        | a | b |
        |---|---|
        | 0.125 | 7 % |
        """, tmp_path)
    found = [(h.line, h.number) for h in hits]
    assert found == [(4, "0.1"), (6, "0.37"), (6, "2.5e-3"), (6, "1e-4"), (6, "91%"), (28, "12.5 %"),
                     (29, "0.66"), (35, "4.5"), (44, "0.125"), (44, "7 %")]


def test_allowlist_entry_matches_only_its_page_number_and_words():
    entry = tn.Allowed("book/a.md", "0.5", "dropout 0.5", "setting", "the model's dropout")
    assert entry.matches(tn.Hit("book/a.md", 3, "0.5", "with dropout 0.5 here"))
    assert not entry.matches(tn.Hit("book/b.md", 3, "0.5", "with dropout 0.5 here"))
    assert not entry.matches(tn.Hit("book/a.md", 3, "0.5", "the loss is 0.5 here"))
    assert not entry.matches(tn.Hit("book/a.md", 3, "0.25", "dropout 0.5 and 0.25"))
