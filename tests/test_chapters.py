"""Checks of the chapter sources that need no build: exercise numbering, the
width of the code a page shows (code cells and the package code it includes),
the chapter list (book/chapters.yml) against _toc.yml, the part indexes and
each chapter's source line, what a chapter still lacks in the six places a
chapter touches, and what the intro says the build re-executes."""

import ast
import importlib.util
import pathlib
import re
import shutil

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAPTERS = sorted(p for p in (ROOT / "book").rglob("*.md")
                  if "```{code-cell}" in p.read_text() and p.name != "reproducibility.md")
TEMPLATE = ROOT / "book" / "_templates" / "chapter.md"
_spec = importlib.util.spec_from_file_location("execute", ROOT / ".ci" / "execute.py")
EXECUTE = importlib.util.module_from_spec(_spec)   # .ci/execute.py: what the build reads
_spec.loader.exec_module(EXECUTE)
WIDTH = 80   # characters that fit the content column without a sideways scroll
EXERCISE = re.compile(r"```\{exercise-start\}(?P<title>[^\n]*)\n(?P<options>(?::[^\n]*\n)*)```")
INCLUDE = re.compile(r"```\{literalinclude\} (?P<path>\S+)\n(?P<options>(?::[^\n]*\n)*)")


def _ids(paths):
    return [p.relative_to(ROOT / "book").with_suffix("").as_posix() for p in paths]


def code_cell_lines(text):
    """(line number, line) of every code line inside a ``{code-cell}`` block
    (its options, ``:tags:`` or a figure's ``:mystnb:`` alt text, are not shown)."""
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```{code-cell}"):
            inside = True
        elif inside and line.startswith("```"):
            inside = False
        elif inside and not re.match(r":[\w-]+:", line):
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


# ---------------------------------------------------------------------------
# The chapter list (book/chapters.yml) and what a chapter needs in each of the
# places that list it. A new chapter copied from book/_templates/chapter.md
# fails `test_chapter_lacks_nothing` with the list of what it still lacks.

REGISTRY = yaml.safe_load((ROOT / "book" / "chapters.yml").read_text())
SETS = REGISTRY["problem_sets"]
LISTED = [(part, chapter) for part in REGISTRY["parts"] for chapter in part["chapters"]]
SOURCE_LINE = re.compile(r"^\*Source: (?P<text>.*?)\*$", re.M | re.S)
LABEL_OPTION = re.compile(r"^:label: (\S+)", re.M)


def _listed_ids():
    return [f"{part['folder']}/{chapter['slug']}" for part, chapter in LISTED]


def _problems(problems):
    """How a source line names a problem: "Problem 2", "Problems 9–10"."""
    return f"Problem{'s' if re.search(r'[–,-]', problems) else ''} {problems}"


def index_source(sources):
    """The "source" column of a part index row, from chapters.yml."""
    first, *more = sources
    text = f"{SETS[first['set']]['short']}, {_problems(first['problems'])}"
    return text + "".join(f"; {SETS[s['set']]['term']}, {_problems(s['problems'])}"
                          for s in more)


def _toc_parts(root):
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    return [(p["caption"], [c["file"] for c in p["chapters"]]) for p in toc["parts"]]


def _imported_modules(text, root):
    """The public dlbook modules (files) a chapter's code cells import."""
    # the same reading of imports as the build's dependency keys
    names = set().union(*map(EXECUTE._dlbook_imports, EXECUTE._code_cells(text)))
    code = root / "code"
    modules = set()
    for name in names:
        path = code.joinpath(*name.split("."))
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            if not any(part.startswith("_") for part in name.split(".")):
                modules.add(name)
    return sorted(modules)


def chapter_lacks(path, root=ROOT):
    """What the chapter at ``path`` (book/<folder>/<slug>.md) still lacks, in
    the chapter and in the five other places a chapter is listed:
    book/chapters.yml, _toc.yml, the part's index.md, book/api.md (the modules
    it imports), tests/ (a test importing each module) and book/errata.md
    (an entry per correction). An empty list: nothing."""
    registry = yaml.safe_load((root / "book" / "chapters.yml").read_text())
    folder, slug = path.parent.name, path.stem
    text = path.read_text()
    lacks = []

    # the places that list it
    part = next((p for p in registry["parts"] if p["folder"] == folder), None)
    entry = next((c for c in (part or {}).get("chapters", []) if c["slug"] == slug), None)
    if entry is None:
        lacks.append(f"an entry under the part with folder '{folder}' in book/chapters.yml")
    toc = [f for _, files in _toc_parts(root) for f in files]
    if f"book/{folder}/{slug}" not in toc:
        lacks.append(f"a line `- file: book/{folder}/{slug}` under its part in _toc.yml")
    index = root / "book" / folder / "index.md"
    row = re.search(rf"^\| \{{doc\}}`{re.escape(slug)}` \|[^|\n]*\|(?P<src>[^|\n]*)\|$",
                    index.read_text() if index.is_file() else "", re.M)
    if row is None:
        lacks.append(f"a row `| {{doc}}`{slug}` | <problem> | <source> |` in book/{folder}/index.md")
    elif entry is not None and row["src"].strip() != index_source(entry["sources"]):
        lacks.append(f"the source column '{index_source(entry['sources'])}' in its "
                     f"index row (has '{row['src'].strip()}')")

    # the chapter, top to bottom (CONTRIBUTING.md)
    head = text.split("\n---", 1)[0]
    if not text.startswith("---\n") or "format_name: myst" not in head \
            or "name: python3" not in head:
        lacks.append("the jupytext front matter (format_name: myst, kernel python3)")
    if not re.search(r"^# \S", text, re.M):
        lacks.append("a title (`# ...`)")
    found = SOURCE_LINE.search(text)
    if found is None:
        lacks.append("a source line `*Source: <course>, <term>, <homework>, Problem N — <topic>.*`")
    elif entry is not None:
        line = " ".join(found["text"].split())
        first = SETS.get(entry["sources"][0]["set"], {})
        need = [first.get("code"), first.get("homework")]
        need += [w for s in entry["sources"] for w in
                 (SETS.get(s["set"], {}).get("term"), _problems(s["problems"]))]
        missing = [w for w in need if w and w not in line]
        if missing:
            lacks.append(f"{missing} in its source line (from book/chapters.yml)")
        if "—" not in line:
            lacks.append("the topic after '—' in its source line")
    cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, re.S)
    first_cell = cells[0] if cells else ""
    if not (":tags: [remove-input]" in first_cell and "describe()" in first_cell
            and "seed_everything(" in first_cell and "use_house_style()" in first_cell):
        lacks.append("a first code cell tagged remove-input that calls use_house_style(), "
                     "seed_everything(0) and print(describe()) (the run-info cell)")
    glance = re.search(r"^## Answers at a glance\n+(?P<table>(?:\|[^\n]*\n)+)", text, re.M)
    if glance is None:
        lacks.append("an '## Answers at a glance' section opening with a table")
    elif not re.match(r"\| *part *\| *answer *\|", glance["table"]):
        lacks.append("the header `| part | answer |` of the answers-at-a-glance table")
    blocks = list(EXERCISE.finditer(text))
    if not blocks:
        lacks.append("the problem restated in exercise-start/exercise-end blocks")
    labels = [LABEL_OPTION.search(b["options"]) for b in blocks]
    if any(label is None for label in labels):
        lacks.append("a :label: on every exercise")
    for label in (l[1] for l in labels if l):
        if not re.search(rf"```\{{solution-start\}} {re.escape(label)}\n", text):
            lacks.append(f"a solution-start block for exercise {label}")
    if text.count("{exercise-start}") != text.count("{exercise-end}") or \
            text.count("{solution-start}") != text.count("{solution-end}"):
        lacks.append("an end for every exercise-start and solution-start")

    # the package code it uses: documented and tested
    api = (root / "book" / "api.md").read_text()
    tested = set().union(*(EXECUTE._dlbook_imports(p.read_text())
                            for p in (root / "tests").rglob("test_*.py")))
    for module in _imported_modules(text, root):
        if module == "dlbook":
            continue
        if f"automodule:: {module}\n" not in api and f"automodule:: {module}." not in api:
            lacks.append(f"`.. automodule:: {module}` in book/api.md")
        if module not in tested:
            lacks.append(f"a test in tests/ that imports {module}")

    # every correction has its errata entry, filed under one of its sources
    entries = errata_entries((root / "book" / "errata.md").read_text())
    sources = [SETS.get(s["set"], {}).get("short") for s in (entry or {}).get("sources", [])]
    doc = f"{{doc}}`{folder}/{slug}`"
    for label in re.findall(r"^\(([\w-]+)\)=\n:::\{admonition\} Correction to the source",
                            text, re.M):
        found = [e for e in entries if f"<{label}>`" in e["fields"].get("Evidence", "")]
        if not found:
            lacks.append(f"an entry in book/errata.md whose evidence links {{ref}}`... <{label}>`")
        for e in found:
            if e["fields"].get("Chapter") != doc:
                lacks.append(f"the chapter {doc} in the errata entry linking <{label}>")
            if sources and not any(s and e["source"].startswith(s) for s in sources):
                lacks.append(f"the errata entry linking <{label}> under a heading naming "
                             f"one of its sources ({sources}), not '{e['source']}'")
    return lacks


ERRATUM_FIELDS = ("The source says", "Correction", "Evidence", "Chapter")
FIELD = re.compile(r"^- \*\*(?P<name>[^*]+):\*\* (?P<value>\S.*)$")


def errata_entries(text):
    """The entries of book/errata.md. Under a ``## <problem set>`` heading
    (its ``short`` name in book/chapters.yml, possibly qualified), each erratum
    is a ``### Problem <number>: <title>`` heading followed by its fields, one
    list item each, ``- **<field>:** <text>``, in the order of ERRATUM_FIELDS.
    Returns one dict per ``###`` heading: ``source``, ``heading``, ``fields``
    (name to text) and ``order`` (the field names as written, a stray line as
    ``None``), so that a malformed entry shows."""
    entries, source = [], None
    for line in text.splitlines():
        if line.startswith("## "):
            source = line[3:].strip()
        elif line.startswith("### "):
            entries.append({"source": source, "heading": line[4:].strip(),
                            "fields": {}, "order": []})
        elif entries and line.strip():
            field = FIELD.match(line)
            entries[-1]["order"].append(field and field["name"])
            if field:
                entries[-1]["fields"][field["name"]] = field["value"].strip()
    return entries


def test_chapter_list_matches_the_table_of_contents():
    toc = [(c, files) for c, files in _toc_parts(ROOT) if c != "Back matter"]
    listed = [(p["caption"], [f"book/{p['folder']}/index"]
               + [f"book/{p['folder']}/{c['slug']}" for c in p["chapters"]])
              for p in REGISTRY["parts"]]
    assert toc == listed, "book/chapters.yml and _toc.yml list different parts or chapters"


def test_chapter_list_names_known_problem_sets():
    for part, chapter in LISTED:
        assert chapter["topic"].strip() and chapter["sources"], chapter
        for source in chapter["sources"]:
            assert source["set"] in SETS, f"{chapter['slug']}: unknown set {source['set']}"
    for key, problem_set in SETS.items():
        assert {"course", "code", "term", "homework", "short", "problems", "answers"} \
            <= problem_set.keys(), key


@pytest.mark.parametrize("entry", LISTED, ids=_listed_ids())
def test_chapter_lacks_nothing(entry):
    part, chapter = entry
    path = ROOT / "book" / part["folder"] / f"{chapter['slug']}.md"
    assert path.is_file(), f"book/chapters.yml lists {path.relative_to(ROOT)}, which is missing"
    lacks = chapter_lacks(path)
    assert not lacks, f"{path.relative_to(ROOT)} still lacks:\n- " + "\n- ".join(lacks)


def test_errata_entries_are_complete():
    """Every entry of book/errata.md sits under a problem set's heading, names
    its problem, has the four fields in order and nothing else, links its
    evidence with {ref} to labels its chapter defines, and is checked by
    chapter_lacks (its chapter is listed; a correction there has this entry)."""
    text = (ROOT / "book" / "errata.md").read_text()
    entries = errata_entries(text)
    assert len(entries) == text.count("\n### ") and entries
    shorts = [s["short"] for s in SETS.values()]
    listed = {f"{p['folder']}/{c['slug']}" for p, c in LISTED}
    for e in entries:
        where = f"errata entry '{e['heading']}' under '{e['source']}'"
        assert e["source"] and any(e["source"].startswith(s) for s in shorts), where
        assert re.match(r"Problem \d+\S*: \S", e["heading"]), where
        assert e["order"] == list(ERRATUM_FIELDS), f"{where}: fields {e['order']}"
        chapter = re.fullmatch(r"\{doc\}`([\w-]+/[\w-]+)`", e["fields"]["Chapter"])
        assert chapter and chapter[1] in listed, f"{where}: chapter {e['fields']['Chapter']}"
        labels = re.findall(r"\{ref\}`[^`<]+<([\w-]+)>`", e["fields"]["Evidence"])
        defined = re.findall(r"^\(([\w-]+)\)=$",
                             (ROOT / "book" / f"{chapter[1]}.md").read_text(), re.M)
        assert labels and set(labels) <= set(defined), f"{where}: evidence {labels}"


def test_every_chapter_is_listed():
    listed = {f"{p['folder']}/{c['slug']}" for p, c in LISTED}
    pages = {p.relative_to(ROOT / "book").with_suffix("").as_posix() for p in CHAPTERS
             if p != TEMPLATE}
    assert pages <= listed, f"chapters missing from book/chapters.yml: {pages - listed}"


def test_the_template_names_what_a_new_chapter_lacks(tmp_path):
    """A copy of the template is a new chapter: the check names every place
    that does not list it yet, and nothing in the chapter itself."""
    for name in ("_toc.yml",):
        shutil.copy(ROOT / name, tmp_path)
    shutil.copytree(ROOT / "book", tmp_path / "book", ignore=shutil.ignore_patterns("*.ipynb"))
    (tmp_path / "tests").mkdir()
    (tmp_path / "code").mkdir()
    new = tmp_path / "book" / "graphs" / "new-chapter.md"
    shutil.copy(TEMPLATE, new)
    lacks = chapter_lacks(new, tmp_path)
    assert [l.split(" ", 2)[:2] for l in lacks] == [
        ["an", "entry"], ["a", "line"], ["a", "row"]], lacks
    # listed everywhere, it still lacks its source line's problem
    registry = yaml.safe_load((tmp_path / "book" / "chapters.yml").read_text())
    registry["parts"][0]["chapters"].append(
        {"slug": "new-chapter", "topic": "a test", "sources": [
            {"set": "eecs182-fa25-hw6", "problems": "9"}]})
    (tmp_path / "book" / "chapters.yml").write_text(yaml.safe_dump(registry, allow_unicode=True))
    toc = (tmp_path / "_toc.yml").read_text().replace(
        "      - file: book/graphs/path-counting\n",
        "      - file: book/graphs/path-counting\n      - file: book/graphs/new-chapter\n")
    (tmp_path / "_toc.yml").write_text(toc)
    with open(tmp_path / "book" / "graphs" / "index.md", "a") as index:
        index.write("| {doc}`new-chapter` | a test | EECS 182 Fall 2025, HW 6, Problem 9 |\n")
    lacks = chapter_lacks(new, tmp_path)
    assert len(lacks) == 1 and "source line" in lacks[0], lacks


def _copy_book(tmp_path):
    shutil.copy(ROOT / "_toc.yml", tmp_path)
    shutil.copytree(ROOT / "book", tmp_path / "book", ignore=shutil.ignore_patterns("*.ipynb"))
    shutil.copytree(ROOT / "code" / "dlbook", tmp_path / "code" / "dlbook",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", tmp_path / "tests",
                    ignore=shutil.ignore_patterns("__pycache__", "site"))


BREAKS = {   # file, text taken out, text put in, what chapter_lacks must name
    "source": ("book/graphs/path-counting.md", "Homework 6, Problem 2", "Homework 6, Problem 7",
               "'Problem 2'] in its source line"),
    "run-info": ("book/graphs/path-counting.md", ":tags: [remove-input]\nimport platform",
                 "import platform", "the run-info cell"),
    "glance": ("book/graphs/path-counting.md", "## Answers at a glance", "## Answers",
               "Answers at a glance"),
    "label": ("book/graphs/path-counting.md", ":label: pc-a\n", "", "a :label: on every exercise"),
    "solution": ("book/graphs/path-counting.md", "```{solution-start} pc-a\n",
                 "```{solution-start} pc-x\n", "a solution-start block for exercise pc-a"),
    "index": ("book/graphs/index.md", "| {doc}`path-counting` |", "| {doc}`path-counting-x` |",
              "a row `| {doc}`path-counting`"),
    "index-source": ("book/graphs/index.md", "walk counts, reachability, cost | EECS 182 Fall 2025",
                     "walk counts, reachability, cost | EECS 182 Fall 2023",
                     "the source column"),
    "toc": ("_toc.yml", "      - file: book/graphs/path-counting\n", "", "_toc.yml"),
    "api": ("book/api.md", ".. automodule:: dlbook.runtime\n", "",
            "automodule:: dlbook.runtime"),
    "errata": ("book/errata.md", "<path-counting-linear>", "<path-counting-x>",
               "<path-counting-linear>"),
    "errata-chapter": ("book/errata.md", "{doc}`graphs/path-counting`",
                       "{doc}`graphs/aggregation-power`", "in the errata entry linking"),
    "errata-source": ("book/errata.md", "## EECS 182 Fall 2025, HW 6\n",
                      "## EECS 182 Fall 2023, HW 6\n", "under a heading naming"),
}


@pytest.mark.parametrize("case", BREAKS, ids=list(BREAKS))
def test_chapter_lacks_names_what_is_missing(case, tmp_path):
    name, old, new, expected = BREAKS[case]
    _copy_book(tmp_path)
    chapter = tmp_path / "book" / "graphs" / "path-counting.md"
    assert chapter_lacks(chapter, tmp_path) == []
    path = tmp_path / name
    assert old in path.read_text(), f"{case}: the text to break is gone; pick another"
    path.write_text(path.read_text().replace(old, new, 1))
    lacks = chapter_lacks(chapter, tmp_path)
    assert any(expected in l for l in lacks), lacks


def test_chapter_lacks_names_an_untested_module(tmp_path):
    _copy_book(tmp_path)
    chapter = tmp_path / "book" / "graphs" / "path-counting.md"
    for test in (tmp_path / "tests").glob("test_*.py"):
        if "plotting" in test.read_text():
            test.unlink()
    assert chapter_lacks(chapter, tmp_path) == [
        "a test in tests/ that imports dlbook.plotting"]


def test_the_intro_says_what_the_build_executes():
    """book/intro.md: every chapter imports dlbook.runtime, and the attention
    module is imported by the three attention chapters only (the dependency
    key of .ci/execute.py decides what is re-executed)."""
    execute = EXECUTE
    chapters = execute.toc_chapters(ROOT)
    users = lambda module: sorted(
        c.relative_to(ROOT / "book").with_suffix("").as_posix() for c in chapters
        if ROOT / "code" / "dlbook" / module in execute.dependency_files(c, ROOT))
    intro = " ".join((ROOT / "book" / "intro.md").read_text().split())
    assert "Every chapter imports `dlbook.runtime`" in intro
    assert len(users("runtime.py")) == len(chapters)
    assert "`dlbook/attention.py` runs the three chapters on attention only" in intro
    assert users("attention.py") == ["attention/argmax-attention", "attention/attention-scaling",
                                     "attention/linear-attention"]


def test_the_template_runs(monkeypatch):
    """The template is no page of the book, so the build never executes it:
    run its code cells here (quick profile), as a new chapter would."""
    import random

    import matplotlib
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    monkeypatch.setenv("DLBOOK_PROFILE", "quick")
    monkeypatch.delenv("DLBOOK_REHEARSAL", raising=False)
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    namespace = {"__name__": "template"}
    try:
        with matplotlib.rc_context():   # the house style stays in this test
            for cell in EXECUTE._code_cells(TEMPLATE.read_text()):
                exec(compile(cell, str(TEMPLATE), "exec"), namespace)
            plt.close("all")
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
    assert namespace["few"].n >= 3 and 0.9 < namespace["ratio"] < 1.1
