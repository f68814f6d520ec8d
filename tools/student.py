"""The student edition: a copy of the book's sources with every exercise solution removed.

    python -m tools.student . _build/student/src           # what `make book-student` runs
    python -m tools.student . _build/student/src --branch  # and commit it (make student-branch)

A solution is a run of whole notebook cells, laid out as CONTRIBUTING.md prescribes:

- a Markdown cell that *begins* with the ``{solution-start}`` directive (the solution's prose may
  follow the directive in the same cell),
- any cells after it (the solution's code and more prose),
- a Markdown cell that holds the ``{solution-end}`` directive and nothing else.

The copy keeps every other cell of the toc's chapters and drops those runs whole, so the
solutions are gone from the pages and from the notebooks the download button hands out. A
layout this tool does not know (a directive in the middle of a cell, text beside
``{solution-end}``, the one-block ``{solution}`` form, a solution in a Markdown page) is an error
that names the file and the cell, never a solution left in place.

The copy is a repository of its own, the one the student branch holds (``student_edition`` in
``_config.yml``: the branch, and the pages it leaves out, such as the instructors' page):

- each ``{exercise}`` directive becomes plain Markdown that Jupyter and Colab show as it is
  (``**Exercise 2.4: Title**``, the text with its maths, citations as "(Ba et al., 2016)"), in
  a cell of its own, followed by an empty code cell tagged ``answer``; a ``{ref}`` to an
  exercise elsewhere becomes "Exercise 2.4" (the format: :func:`student_notebook`);
- execution counts run 1, 2, ..., n again, and each chapter's text pair is written anew;
- ``_config.yml`` points the launch buttons and the set-up cells at the student branch, sets
  sphinx-exercise's ``hide_solutions`` and a banner that says which edition it is.

``--branch`` then commits the copy to that branch of the repository (never to the branch that
is checked out), without touching the working tree; ``git push origin student`` publishes it.
"""

from __future__ import annotations

import argparse
import copy
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from tools import pairs, setup_cell, toc

#: A line that opens a directive: three or more backticks or colons, then ``{name}``.
DIRECTIVE = re.compile(r"^(`{3,}|:{3,})\{(solution|solution-start|solution-end)\}", re.MULTILINE)
#: A cell that closes a solution: the ``{solution-end}`` directive alone.
END_CELL = re.compile(r"(`{3,}|:{3,})\{solution-end\}[ \t]*\n\1[ \t]*")
#: The line that opens an exercise, with its fence and title.
EXERCISE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{exercise\}[ \t]*(?P<title>.*?)[ \t]*$", re.M)
#: The gated form, which this tool does not convert.
GATED_EXERCISE = re.compile(r"^(`{3,}|:{3,})\{exercise-(start|end)\}", re.MULTILINE)
#: An option line at the top of a directive's body (``:label: ex-nlp-1``).
OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")
#: A MyST role: ``{cite:p}`key` ``.
ROLE = re.compile(r"\{(?P<name>[\w:+-]+)\}`(?P<content>[^`]*)`")
#: A role's content with explicit text: ``the padding section <sec-bert-padding>``.
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)
#: A label in front of a heading: ``(sec-bert-padding)=`` then ``## Padding``.
SECTION = re.compile(r"^\((?P<label>[^()\s]+)\)=[ \t]*\n+#+[ \t]+(?P<title>.+?)[ \t]*$", re.M)

#: The answer cell that follows each exercise in a student notebook.
ANSWER = "# Your answer here"
#: The file that marks a folder as a student copy, which a later run may replace.
MARKER = ".normlab-student"
#: What the book build does not need in the copy; ``grading`` holds the hidden tests of the
#: autograder, whose expected values are the answers, so it never reaches students.
SKIP = ("_build", "__pycache__", "*.egg-info", "grading")
#: Hidden files a repository of its own needs (the rest, .git and .github included, stay out).
DOTFILES = (".gitignore", ".gitattributes")
#: ``student_edition`` in ``_config.yml`` when it is missing.
DEFAULTS = {"branch": "student", "leave_out": []}


class LayoutError(ValueError):
    """A solution or an exercise is not laid out as this tool expects (module docstring)."""


# --- solutions ---------------------------------------------------------------------------------


def solution_spans(nb: dict, where: str = "notebook") -> list[tuple[int, int]]:
    """The ``(first, last)`` cell indices of every solution in ``nb``, inclusive.

    Raises LayoutError, naming ``where`` and the cell, for any other layout.
    """
    spans, start = [], None
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = cell["source"].strip()
        names = [m[2] for m in DIRECTIVE.finditer(text)]
        at = f"{where}, cell {index}"
        if "solution" in names:
            raise LayoutError(
                f"{at}: uses the one-block {{solution}} directive; write the solution as cells "
                f"between {{solution-start}} and {{solution-end}} (see CONTRIBUTING.md)"
            )
        if not names:
            continue
        opening = DIRECTIVE.match(text)  # a directive on the cell's first line
        if names == ["solution-start"] and opening is not None:
            if start is not None:
                raise LayoutError(
                    f"{at}: a {{solution-start}} inside the solution opened at cell {start}"
                )
            start = index
        elif names == ["solution-end"] and END_CELL.fullmatch(text):
            if start is None:
                raise LayoutError(
                    f"{at}: a {{solution-end}} without a {{solution-start}} before it"
                )
            spans.append((start, index))
            start = None
        else:
            raise LayoutError(
                f"{at}: a solution directive must open its own cell ({{solution-start}} first in "
                f"the cell, the solution's prose after it) or be the whole cell "
                f"({{solution-end}}); found {names} in {text[:80]!r}"
            )
    if start is not None:
        raise LayoutError(
            f"{where}, cell {start}: a {{solution-start}} without a {{solution-end}} after it"
        )
    return spans


def strip_solutions(nb: dict, where: str = "notebook") -> tuple[dict, int]:
    """A copy of ``nb`` without its solution cells, and how many solutions were removed."""
    spans = solution_spans(nb, where)
    drop = {i for first, last in spans for i in range(first, last + 1)}
    student = copy.deepcopy(nb)
    student["cells"] = [c for i, c in enumerate(student["cells"]) if i not in drop]
    return student, len(spans)


# --- exercises as Markdown ---------------------------------------------------------------------


@dataclass(frozen=True)
class Exercise:
    """One ``{exercise}`` directive of a chapter, as found in its Markdown cell."""

    cell: int  # the index of its Markdown cell
    start: int  # where the directive starts and ends in the cell's source
    end: int
    label: str
    number: str  # "2.4": the chapter's number, then the exercise's place in the chapter
    title: str  # as written (roles not converted yet)
    body: str  # the text without the option lines (roles not converted yet)


def chapter_numbers(toc_path: Path | str) -> dict[Path, int]:
    """``{page path: chapter number}`` for the pages of the toc's numbered parts, counted on
    across parts as Jupyter Book numbers them (the numbers sphinx-exercise puts before ``.n``)."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    toc_path = Path(toc_path)
    site_map = parse_toc_yaml(toc_path)
    paths = {
        p.relative_to(toc_path.parent).with_suffix("").as_posix(): p for p in toc.files(toc_path)
    }
    numbers, count = {}, 0
    for tree in site_map[site_map.root.docname].subtrees:
        if not tree.numbered:
            continue
        for name in tree.files():
            count += 1
            numbers[paths[name]] = count
    return numbers


def _closing(source: str, fence: str, after: int, where: str) -> re.Match:
    """The line that closes the directive opened with ``fence``, searched from ``after``."""
    closing = re.compile(rf"^{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
    found = closing.search(source, after)
    if found is None:
        raise LayoutError(f"{where}: an {{exercise}} opened with {fence} is never closed")
    return found


def _options_and_body(text: str) -> tuple[dict[str, str], str]:
    """A directive's options (``:key: value`` lines or a ``---`` YAML block) and its body."""
    lines = text.split("\n")
    if lines and lines[0].strip() == "---" and "---" in (line.strip() for line in lines[1:]):
        end = 1 + [line.strip() for line in lines[1:]].index("---")
        options = yaml.safe_load("\n".join(lines[1:end])) or {}
        return {str(k): str(v) for k, v in options.items()}, "\n".join(lines[end + 1 :]).strip()
    options = {}
    while lines and (found := OPTION.match(lines[0])):
        options[found["key"]] = found["value"].strip()
        lines.pop(0)
    return options, "\n".join(lines).strip()


def exercises(nb: dict, chapter: int | None, where: str = "notebook") -> list[Exercise]:
    """Every ``{exercise}`` directive in ``nb``'s Markdown cells, numbered ``chapter.n``.

    Raises LayoutError, naming ``where`` and the cell, for a gated exercise, an exercise that
    is never closed, or one without a ``:label:``.
    """
    found, count = [], 0
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        source, at = cell["source"], f"{where}, cell {index}"
        if GATED_EXERCISE.search(source):
            raise LayoutError(
                f"{at}: a gated {{exercise-start}}/{{exercise-end}}; write the exercise as one "
                f"{{exercise}} directive (see CONTRIBUTING.md)"
            )
        position = 0
        while (opening := EXERCISE.search(source, position)) is not None:
            closing = _closing(source, opening["fence"], opening.end(), at)
            end = closing.end()
            options, body = _options_and_body(source[opening.end() : closing.start()].strip("\n"))
            if not options.get("label"):
                raise LayoutError(
                    f"{at}: an {{exercise}} without a :label: (write :label: ex-<chapter>-<n> "
                    f"under its first line); found {source[opening.start() :][:80]!r}"
                )
            count += 1
            number = f"{chapter}.{count}" if chapter is not None else str(count)
            label, title = options["label"], opening["title"]
            found.append(Exercise(index, opening.start(), end, label, number, title, body))
            position = end
    return found


@functools.lru_cache(maxsize=4)
def bibliography(path: Path) -> dict[str, tuple[str, str]]:
    """``{key: (authors as cited, year)}`` from a BibTeX file: "Ba et al.", "Wu and He"."""
    from pybtex.backends.plaintext import Backend
    from pybtex.database import parse_file
    from pybtex.richtext import Text

    backend = Backend()  # render_as("text") would look the backend up again for every name

    def plain(latex: str) -> str:
        return Text.from_latex(latex).render(backend)

    entries = {}
    for key, entry in parse_file(str(path)).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [plain(" ".join(p.prelast_names + p.last_names)) for p in people]
        if len(names) > 2 or (names and names[-1] == "others"):
            authors = f"{names[0]} et al."
        else:
            authors = " and ".join(names) or plain(entry.fields.get("title", key))
        entries[key] = (authors, entry.fields.get("year", "n.d."))
    return entries


def cite(keys: str, textual: bool, bib: dict[str, tuple[str, str]]) -> str:
    """A citation role as text: "(Ba et al., 2016; Rush, 2018)" or "Ba et al. (2016)"; a key
    the bibliography lacks as "[key]"."""
    parts = []
    for key in (k.strip() for k in keys.split(",") if k.strip()):
        if key not in bib:
            parts.append(f"[{key}]")
        elif textual:
            parts.append(f"{bib[key][0]} ({bib[key][1]})")
        else:
            parts.append(f"{bib[key][0]}, {bib[key][1]}")
    if textual:
        return ", ".join(parts)
    return "(" + "; ".join(parts) + ")"


def readable(
    text: str,
    bib: dict[str, tuple[str, str]],
    sections: dict[str, str],
    numbers: dict[str, str],
) -> str:
    """``text`` with every MyST role written out for a reader without MyST (Jupyter, Colab).

    ``{cite:p}``/``{cite:t}`` become author-year text (``bib``); ``{ref}`` to an exercise
    "Exercise 2.4" (``numbers``), to a section its title in quotes (``sections``), else its
    explicit text or its label; ``{math}`` becomes ``$...$``; any other role its text.
    """

    def replace(found: re.Match) -> str:
        name, content = found["name"], found["content"]
        explicit = EXPLICIT.match(content)
        target = explicit["target"] if explicit else content
        if name.startswith("cite"):
            return cite(content, textual=name.startswith("cite:t"), bib=bib)
        if name == "math":
            return f"${content}$"
        if explicit:
            return explicit["text"]
        if name in ("ref", "numref") and target in numbers:
            return f"Exercise {numbers[target]}"
        if name == "ref" and target in sections:
            return f"“{sections[target]}”"
        return target

    return ROLE.sub(replace, text)


def exercise_refs(text: str, numbers: dict[str, str]) -> str:
    """``text`` with each ``{ref}`` to an exercise of ``numbers`` as "Exercise 2.4" (or its
    explicit text); every other role is left as it is."""

    def replace(found: re.Match) -> str:
        explicit = EXPLICIT.match(found["content"])
        target = explicit["target"] if explicit else found["content"]
        if found["name"] not in ("ref", "numref") or target not in numbers:
            return found[0]
        return explicit["text"] if explicit else f"Exercise {numbers[target]}"

    return ROLE.sub(replace, text)


def _cell_id(name: str) -> str:
    """A cell id made from ``name`` (nbformat allows letters, digits, - and _, at most 64), so
    that each run writes the same notebook and the student branch changes only with the book."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)[:64]


def _markdown(source: str, name: str) -> dict:
    cell = nbformat.v4.new_markdown_cell(source)
    cell["id"] = _cell_id(name)
    return cell


def student_notebook(
    nb: dict,
    chapter: int | None,
    *,
    numbers: dict[str, str] | None = None,
    bib: dict[str, tuple[str, str]] | None = None,
    where: str = "notebook",
) -> tuple[dict, int]:
    """A copy of ``nb`` as a student gets it, and how many solutions were removed.

    Solutions go (:func:`strip_solutions`). Each exercise becomes a Markdown cell of its own
    (a cell that held other text too is split around it), tagged ``exercise``::

        **Exercise 2.4: A larger image**

        The text, maths as written, citations as "(Liu et al., 2022)".

    and after it comes an answer cell: a code cell ``# Your answer here``, tagged ``answer``.
    Both carry ``metadata["exercise"] = {"label": ..., "number": "2.4"}`` (the exercise's also
    its ``"title"``). A ``{ref}`` to an exercise elsewhere becomes "Exercise 2.4". Execution
    counts run 1, 2, ..., n over the code cells, answer cells included.

    Args:
        nb: a chapter notebook (not modified).
        chapter: the chapter's number in the toc (:func:`chapter_numbers`); None: unnumbered.
        numbers: ``{exercise label: number}`` of the whole book, for ``{ref}`` s between
            chapters; the notebook's own exercises are added to it.
        bib: the bibliography (:func:`bibliography`); None: citations become "[key]".
        where: the notebook's name in error messages.
    """
    student, removed = strip_solutions(nb, where)
    found = exercises(student, chapter, where)
    numbers = {**(numbers or {}), **{ex.label: ex.number for ex in found}}
    sections = {
        m["label"]: m["title"]
        for cell in student["cells"]
        if cell["cell_type"] == "markdown"
        for m in SECTION.finditer(cell["source"])
    }
    by_cell: dict[int, list[Exercise]] = {}
    for ex in found:
        by_cell.setdefault(ex.cell, []).append(ex)
    cells = []
    for index, cell in enumerate(student["cells"]):
        if index not in by_cell:
            if cell["cell_type"] == "markdown":
                cell["source"] = exercise_refs(cell["source"], numbers)
            cells.append(cell)
            continue
        source, position, piece = cell["source"], 0, cell.get("id", str(index))
        for ex in by_cell[index]:
            before = source[position : ex.start].strip()
            if before:
                cells.append(_markdown(exercise_refs(before, numbers), f"{piece}-{ex.start}"))
            title = readable(ex.title, bib or {}, sections, numbers)
            body = readable(ex.body, bib or {}, sections, numbers)
            text = f"**Exercise {ex.number}: {title}**" if title else f"**Exercise {ex.number}**"
            exercise_cell = _markdown(f"{text}\n\n{body}".rstrip(), ex.label)
            exercise_cell.metadata["tags"] = ["exercise"]
            about = {"label": ex.label, "number": ex.number}
            exercise_cell.metadata["exercise"] = {**about, "title": title}
            answer = nbformat.v4.new_code_cell(ANSWER)
            answer["id"] = _cell_id(f"{ex.label}-answer")
            answer.metadata["tags"] = ["answer"]
            answer.metadata["exercise"] = dict(about)
            cells += [exercise_cell, answer]
            position = ex.end
        after = source[position:].strip()
        if after:
            cells.append(_markdown(exercise_refs(after, numbers), f"{piece}-{position}"))
    count = 0
    for cell in cells:
        if cell["cell_type"] == "code":
            count += 1
            cell["execution_count"] = count
            for output in cell.get("outputs", []):
                if "execution_count" in output:
                    output["execution_count"] = count
    student["cells"] = cells
    return student, removed


# --- the copy ----------------------------------------------------------------------------------


def edition_settings(config: dict) -> dict:
    """``student_edition`` from a loaded ``_config.yml``, with the defaults filled in."""
    settings = {**DEFAULTS, **(config.get("student_edition") or {})}
    branch = settings["branch"]
    if not isinstance(branch, str) or not re.fullmatch(r"[\w.-]+(/[\w.-]+)*", branch):
        raise ValueError(
            f"_config.yml: student_edition.branch must be a git branch name, got {branch!r}"
        )
    if branch == (config.get("repository") or {}).get("branch"):
        raise ValueError(
            f"_config.yml: student_edition.branch must differ from repository.branch "
            f"(the book's own branch), got {branch!r} for both"
        )
    return settings


def _drop_pages(tree: dict | list, names: set[str]) -> dict | list:
    """The toc ``tree`` without the entries whose ``file`` is in ``names``, nor parts left empty."""
    if isinstance(tree, list):
        kept = [_drop_pages(entry, names) for entry in tree if entry.get("file") not in names]
        return [e for e in kept if not isinstance(e, dict) or e.get("file") or e.get("chapters")]
    tree = dict(tree)
    for key in ("parts", "chapters", "sections"):
        if key in tree:
            tree[key] = _drop_pages(tree[key], names)
    return tree


def _copy(root: Path, out: Path) -> None:
    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder).resolve()
        skipped = {n for n in names if n.startswith(".") or any(Path(n).match(p) for p in SKIP)}
        return skipped | {n for n in names if (here / n) == out}

    shutil.copytree(root, out, ignore=ignore, symlinks=True)
    for name in DOTFILES:
        if (root / name).is_file():
            shutil.copy2(root / name, out / name)
    (out / MARKER).write_text("A student copy written by tools/student.py; it may be replaced.\n")


def _configure(out: Path) -> dict:
    """Point the copy's ``_config.yml`` at the student branch and drop the left-out pages."""
    config_path = out / "_config.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf8"))
    settings = edition_settings(config)
    config.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    html = config.setdefault("html", {})
    html["announcement"] = "Student edition: the exercises are here, their solutions are not."
    if "repository" in config:
        config["repository"]["branch"] = settings["branch"]
    config.pop("student_edition", None)  # the copy is the edition; it makes no other
    config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), "utf8")
    leave_out = {
        str(name).removesuffix(".md").removesuffix(".ipynb") for name in settings["leave_out"]
    }
    if leave_out:
        toc_path = out / "_toc.yml"
        tree = _drop_pages(yaml.safe_load(toc_path.read_text(encoding="utf8")), leave_out)
        toc_path.write_text(yaml.safe_dump(tree, sort_keys=False, allow_unicode=True), "utf8")
        for name in leave_out:
            for suffix in toc.SUFFIXES:
                (out / f"{name}{suffix}").unlink(missing_ok=True)
    return settings


def rewrite_setup_cell(path: Path, root: Path) -> None:
    """``tools.setup_cell.write`` on ``path`` (for ``root``'s ``_config.yml``) where the cell
    differs, keeping the cell's id and execution count, so the counts still read as one fresh
    run. A notebook without a set-up cell is left as it is."""
    cells = nbformat.read(path, as_version=4).cells
    if not cells or not setup_cell.is_setup_cell(cells[0]) or not setup_cell.problems(path, root):
        return
    count, cell_id = cells[0].get("execution_count"), cells[0].get("id")
    setup_cell.write(path, root=root)
    nb = nbformat.read(path, as_version=4)
    if nb.cells[0].execution_count is None and count is not None:
        nb.cells[0].execution_count = count
    if cell_id is not None:
        nb.cells[0].id = cell_id  # the same cell, rewritten: a smaller diff
    nbformat.write(nb, path)


def make_student_source(root: str | Path, out: str | Path) -> dict[str, int]:
    """Copy the book at ``root`` to ``out`` as the student edition's repository.

    Args:
        root: the repository root (holds ``_config.yml`` and ``_toc.yml``).
        out: a new folder outside ``root``'s own files, or an earlier student copy (replaced).

    Returns:
        ``{relative notebook path: solutions removed}`` for every notebook copied.
    """
    root, out = Path(root).resolve(), Path(out).resolve()
    if not (root / "_config.yml").is_file():
        raise FileNotFoundError(f"root must be the book's folder (with _config.yml), got {root}")
    if root == out or root.is_relative_to(out):
        raise ValueError(f"out must be a new folder outside the book, got {out}")
    if out.exists():
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise FileExistsError(
                f"out must be a new folder or an earlier student copy (with {MARKER}), got {out}, "
                f"which holds other files; it is not replaced"
            )
        shutil.rmtree(out)
    _copy(root, out)
    _configure(out)

    pages = toc.files(out / "_toc.yml")
    for page in (p for p in pages if p.suffix == ".md"):
        if DIRECTIVE.search(page.read_text(encoding="utf8")):
            raise LayoutError(
                f"{page.relative_to(out)}: a solution in a Markdown page; solutions live in "
                f"notebooks, as cells between {{solution-start}} and {{solution-end}}"
            )
    chapters = chapter_numbers(out / "_toc.yml")
    books = {p: nbformat.read(p, as_version=4) for p in pages if p.suffix == ".ipynb"}
    numbers = {
        ex.label: ex.number
        for path, nb in books.items()
        for ex in exercises(nb, chapters.get(path), path.relative_to(out).as_posix())
    }
    bib_files = (yaml.safe_load((out / "_config.yml").read_text("utf8")) or {}).get(
        "bibtex_bibfiles", []
    )
    bib = {}
    for name in bib_files:
        bib.update(bibliography(out / name))
    removed = {}
    for path, nb in books.items():
        name = path.relative_to(out).as_posix()
        student, removed[name] = student_notebook(
            nb, chapters.get(path), numbers=numbers, bib=bib, where=name
        )
        nbformat.write(nbformat.from_dict(student), path)
        rewrite_setup_cell(path, out)
        pairs.sync(path)
    for page in (p for p in pages if p.suffix == ".md"):
        text = page.read_text(encoding="utf8")
        if (new := exercise_refs(text, numbers)) != text:
            page.write_text(new, encoding="utf8")
    # Text pairs of notebooks the toc does not list would keep their solutions.
    paired = {pairs.text_path(path) for path in books}
    for folder in {pairs.text_path(path).parent for path in books}:
        for text in folder.glob("*.md"):
            if text not in paired:
                text.unlink()
    return removed


# --- the student branch ------------------------------------------------------------------------


def _git(repo: Path, *args: str, env: dict | None = None) -> str:
    """Run ``git args`` in the folder ``repo``; its output, or RuntimeError with its message."""
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip()}")
    return done.stdout.strip()


def commit_to_branch(repo: str | Path, folder: str | Path, branch: str, message: str) -> str:
    """Commit the files of ``folder`` as the whole tree of ``branch`` in the git repository at
    ``repo``; return the commit, or the branch's last commit when nothing changed.

    The working tree, the index and the branch checked out are left as they are: the commit is
    written with a temporary index. Files that ``folder``'s ``.gitignore`` ignores (the build's
    ``_build``) and the copy's marker stay out.

    Raises:
        ValueError: ``branch`` is the branch checked out in ``repo``.
        RuntimeError: a git command failed (its message is included).
    """
    repo, folder = Path(repo).resolve(), Path(folder).resolve()
    if branch == _checked_out(repo):
        raise ValueError(
            f"branch must not be the branch checked out in {repo}, got {branch!r}; the student "
            f"edition has a branch of its own (student_edition.branch in _config.yml)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        where = [f"--git-dir={_git(repo, 'rev-parse', '--absolute-git-dir')}", "--work-tree=."]
        _git(folder, *where, "add", "--all", "--", ".", f":(exclude){MARKER}", env=env)
        tree = _git(folder, *where, "write-tree", env=env)
    ref = f"refs/heads/{branch}"
    try:
        parent = _git(repo, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
    except RuntimeError:
        parent = ""
    if parent and _git(repo, "rev-parse", f"{parent}^{{tree}}") == tree:
        return parent
    env = dict(os.environ)
    if not _has_identity(repo):  # a fresh CI runner: the commit names the tool
        for who in ("AUTHOR", "COMMITTER"):
            env.setdefault(f"GIT_{who}_NAME", "tools/student.py")
            env.setdefault(f"GIT_{who}_EMAIL", "student-edition@normlab.invalid")
    parents = ["-p", parent] if parent else []
    commit = _git(repo, "commit-tree", tree, *parents, "-m", message, env=env)
    _git(repo, "update-ref", ref, commit)
    return commit


def _checked_out(repo: Path) -> str:
    """The branch checked out in ``repo`` ("" on a detached HEAD)."""
    try:
        return _git(repo, "symbolic-ref", "-q", "--short", "HEAD")
    except RuntimeError:
        return ""


def _has_identity(repo: Path) -> bool:
    """Whether git knows who commits in ``repo`` (user.email set, or GIT_AUTHOR_EMAIL)."""
    if os.environ.get("GIT_AUTHOR_EMAIL") and os.environ.get("GIT_COMMITTER_EMAIL"):
        return True
    try:
        return bool(_git(repo, "config", "--get", "user.email"))
    except RuntimeError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="the book's folder (with _config.yml)")
    parser.add_argument("out", help="where to write the student copy (replaced)")
    parser.add_argument(
        "--branch",
        action="store_true",
        help="commit the copy to the student branch (student_edition.branch in _config.yml)",
    )
    args = parser.parse_args(argv)
    try:
        removed = make_student_source(args.root, args.out)
        for path, count in removed.items():
            print(f"{path}: {count} solution(s) removed")
        if args.branch:
            config = yaml.safe_load(Path(args.root, "_config.yml").read_text(encoding="utf8"))
            branch = edition_settings(config)["branch"]
            source = _git(Path(args.root), "rev-parse", "--short", "HEAD")
            commit = commit_to_branch(
                args.root, args.out, branch, f"Student edition of {source} (tools/student.py)"
            )
            print(f"branch {branch} is at {commit[:12]}; publish it with: git push origin {branch}")
    except (LayoutError, FileExistsError, FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"tools/student.py: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
