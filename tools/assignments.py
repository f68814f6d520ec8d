"""Autograded assignments from the chapters: `make assignments` (otter-grader's formats).

    python -m tools.assignments                       # every toc chapter with exercises
    python -m tools.assignments notebooks/01_nlp.ipynb --out _build/assignments

Each exercise ``ex-<chapter>-<n>`` has a grading file next to the chapter's sources,
``grading/<chapter>/<label>.py`` (``grading/01_nlp/ex-nlp-1.py``): an otter-grader test file in
its exception-based format (``OK_FORMAT = False``, ``name``, test cases decorated with
``@test_case(points=..., hidden=...)`` whose arguments are the notebook's variables of those
names), plus three settings this tool reads:

- ``answer``: what the student's answer cell starts with, naming the variables the tests read;
- ``manual_points`` and ``rubric``: the points a grader gives by hand (prose parts), and what
  to look for. A prose exercise has no test cases, only these.

Public test cases (``hidden=False``) check the form of an answer (type, shape) and carry no
points; hidden ones check the answer. For each chapter, ``<out>/<chapter>/`` gets:

- ``student/<chapter>.ipynb``: the student edition's notebook (``tools/student.py``) with each
  answer cell started from ``answer`` and followed by ``grader.check("<label>")``, which runs the
  public tests, and ``student/tests/``: those public tests (``student.zip`` holds both);
- ``autograder/autograder.zip``: every test, hidden ones included, as ``otter generate``
  writes it (what ``make grade`` and otter's own ``otter run`` / ``otter grade`` take);
- ``solution/<chapter>.ipynb``: the same notebook with the book's solutions as the answers (the
  key, which gets full marks);
- ``rubric.md``: the points of each exercise, autograded and by hand, and the rubrics.

A chapter's exercises and its grading files must match one to one: an exercise without a
grading file, or a grading file without an exercise, is an error that names both.
"""

from __future__ import annotations

import argparse
import ast
import copy
import io
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from tools import requirements, student, toc

ROOT = Path(__file__).resolve().parents[1]
#: The grading files, one folder per chapter (named as the chapter's notebook).
GRADING = "grading"
#: Where ``make assignments`` writes.
OUT = Path("_build/assignments")
#: The label of a solution, in the cell that opens it.
SOLUTION_LABEL = re.compile(r"\{solution-start\}[ \t]*(?P<label>\S+)")
#: The cell that sets up the checks, put before the chapter's first exercise.
GRADER_CELL = """\
# The checks of your answers (otter-grader): each `grader.check` cell below runs
# the public tests of the exercise above it (the type and shape of the answer);
# the course's grader also runs hidden tests that check the answer itself.
try:
    import otter
except ImportError:  # Colab, Binder: the grader this book pins
    %pip install -q {pin}
    import otter
grader = otter.Notebook(tests_dir="tests")"""
GRADER_NOTE = """\
**Checking your answers.** Each exercise below is followed by an answer cell and, for the \
exercises graded by code, a `grader.check` cell. The answer cell names the variables the grader \
reads: give them your answers. Exercises answered in words are graded by hand."""
#: The answer cell of an exercise graded by hand only, when its grading file sets no ``answer``.
MANUAL_ANSWER = "# Your answer here, in words (comments or a Markdown cell). Graded by hand."
#: What marks the cells this tool adds, in their metadata.
TAGS = {"grader": ["grader"], "check": ["check"]}


class GradingError(ValueError):
    """A grading file is missing, malformed, or does not match the chapter's exercises."""


@dataclass(frozen=True)
class Case:
    """One test case of a grading file."""

    name: str
    points: float
    hidden: bool


@dataclass(frozen=True)
class Spec:
    """An exercise's grading file, read."""

    label: str
    path: Path
    source: str
    cases: tuple[Case, ...]
    answer: str | None
    manual_points: float
    rubric: str

    @property
    def autograded(self) -> bool:
        return bool(self.cases)

    @property
    def points(self) -> float:
        """The points the autograder gives (hidden cases; public ones carry none)."""
        return sum(c.points for c in self.cases)


def _settings(tree: ast.Module, path: Path) -> dict[str, object]:
    """The module-level ``name = <literal>`` assignments of a grading file."""
    found: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    found[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return found


def _case_nodes(tree: ast.Module) -> list[tuple[ast.FunctionDef, dict[str, object]]]:
    """The functions decorated with ``@test_case(...)``, with the decorator's keywords."""
    cases = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            call = deco if isinstance(deco, ast.Call) else None
            func = call.func if call else deco
            if isinstance(func, ast.Name) and func.id == "test_case":
                keywords = {
                    k.arg: ast.literal_eval(k.value) for k in (call.keywords if call else [])
                }
                cases.append((node, keywords))
    return cases


def load_spec(path: str | Path) -> Spec:
    """Read and check the grading file at ``path``.

    Raises:
        GradingError: naming the file, for a file that otter-grader would not read, a ``name``
            other than the file's, a case without explicit ``points`` and ``hidden``, a public
            case with points, or a file with neither cases nor ``manual_points``.
    """
    path = Path(path)
    source = path.read_text(encoding="utf8")
    try:
        tree = ast.parse(source, str(path))
    except SyntaxError as err:
        raise GradingError(f"{path}: not valid Python ({err.msg}, line {err.lineno})") from None
    settings = _settings(tree, path)
    if settings.get("OK_FORMAT") is not False:
        raise GradingError(
            f"{path}: must set OK_FORMAT = False (otter-grader's exception-based test format), "
            f"got {settings.get('OK_FORMAT', 'nothing')!r}"
        )
    if settings.get("name") != path.stem:
        raise GradingError(
            f"{path}: name must be the file's own name, {path.stem!r}, got {settings.get('name')!r}"
        )
    cases = []
    for node, keywords in _case_nodes(tree):
        if not isinstance(keywords.get("points"), int | float) or "hidden" not in keywords:
            raise GradingError(
                f"{path}: test case {node.name} must say its points and whether it is hidden, "
                f"as @test_case(points=1, hidden=True); got @test_case({keywords})"
            )
        if not keywords["hidden"] and keywords["points"]:
            raise GradingError(
                f"{path}: public test case {node.name} must carry 0 points (public cases check "
                f"the form of an answer; hidden ones give the points), got {keywords['points']}"
            )
        cases.append(Case(node.name, float(keywords["points"]), bool(keywords["hidden"])))
    manual = settings.get("manual_points", 0)
    if not cases and not manual:
        raise GradingError(
            f"{path}: has no test case and no manual_points; give an exercise answered in words "
            f"manual_points = N and a rubric"
        )
    if cases and not any(c.hidden for c in cases):
        raise GradingError(f"{path}: has test cases but no hidden one, so it gives no points")
    answer = settings.get("answer")
    if cases and not isinstance(answer, str):
        raise GradingError(
            f"{path}: an autograded exercise needs answer = '''...''', the start of the "
            f"student's answer cell that names the variables its tests read"
        )
    return Spec(
        label=path.stem,
        path=path,
        source=source,
        cases=tuple(cases),
        answer=answer if isinstance(answer, str) else None,
        manual_points=float(manual),
        rubric=str(settings.get("rubric", "")).strip(),
    )


def named_cases(source: str) -> str:
    """``source`` with ``name="<function>"`` in each ``@test_case(...)`` that gives no name, so
    otter reports a case as its function ("one_mean_per_token"), not as "ex-nlp-1 - 2"."""
    lines = source.splitlines(keepends=True)
    for node, keywords in reversed(_case_nodes(ast.parse(source))):
        if "name" in keywords:
            continue
        for deco in node.decorator_list:
            func = deco.func if isinstance(deco, ast.Call) else deco
            if not (isinstance(func, ast.Name) and func.id == "test_case"):
                continue
            row, col = func.end_lineno - 1, func.end_col_offset
            line = lines[row]
            if isinstance(deco, ast.Call):  # test_case(...): the name first
                lines[row] = f'{line[: col + 1]}name="{node.name}", {line[col + 1 :]}'
            else:  # a bare @test_case
                lines[row] = f'{line[:col]}(name="{node.name}"){line[col:]}'
    return "".join(lines)


def public_source(spec: Spec) -> str:
    """The grading file without its hidden test cases (decorators and bodies removed whole),
    each case named as its function."""
    source = named_cases(spec.source)
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for node, keywords in _case_nodes(tree):
        if keywords.get("hidden"):
            first = min(d.lineno for d in node.decorator_list)
            drop.update(range(first - 1, node.end_lineno))
    kept = "".join(line for i, line in enumerate(lines) if i not in drop)
    return re.sub(r"\n{3,}", "\n\n\n", kept)


def chapter_specs(chapter: Path, root: Path = ROOT, nb: dict | None = None) -> dict[str, Spec]:
    """``{label: Spec}`` for the exercises of ``chapter``, in the chapter's order.

    Raises:
        GradingError: an exercise without a grading file, or a grading file without an
            exercise, naming both the chapter and the file.
    """
    nb = nb if nb is not None else nbformat.read(chapter, as_version=4)
    labels = [ex.label for ex in student.exercises(nb, None, str(chapter))]
    folder = root / GRADING / chapter.stem
    files = {p.stem: p for p in sorted(folder.glob("*.py"))} if folder.is_dir() else {}
    missing = [label for label in labels if label not in files]
    if missing:
        raise GradingError(
            f"{chapter.name}: no grading file for {', '.join(missing)}; write "
            f"{folder.relative_to(root)}/{missing[0]}.py (CONTRIBUTING.md, 'Grading')"
        )
    extra = [name for name in files if name not in labels]
    if extra:
        raise GradingError(
            f"{folder.relative_to(root)}: {', '.join(f'{e}.py' for e in extra)} grade(s) no "
            f"exercise of {chapter.name} (its labels: {', '.join(labels) or 'none'})"
        )
    return {label: load_spec(files[label]) for label in labels}


def solution_cells(nb: dict, where: str = "notebook") -> dict[str, list[dict]]:
    """``{label: the solution's code cells}``, without cells tagged ``raises-exception``."""
    found = {}
    for first, last in student.solution_spans(nb, where):
        opening = SOLUTION_LABEL.search(nb["cells"][first]["source"])
        if opening is None:
            raise GradingError(f"{where}, cell {first}: a {{solution-start}} without a label")
        found[opening["label"]] = [
            copy.deepcopy(cell)
            for cell in nb["cells"][first + 1 : last]
            if cell["cell_type"] == "code"
            and "raises-exception" not in cell.get("metadata", {}).get("tags", [])
        ]
    return found


def _renumber(cells: list[dict]) -> None:
    count = 0
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        count += 1
        cell["execution_count"] = count
        for output in cell.get("outputs", []):
            if "execution_count" in output:
                output["execution_count"] = count


def _tagged(cell: dict, tags: list[str], label: str | None = None) -> dict:
    cell.metadata["tags"] = list(tags)
    if label is not None:
        cell.metadata["exercise"] = {"label": label}
    return cell


def assignment_notebook(
    nb: dict,
    specs: dict[str, Spec],
    *,
    chapter: int | None,
    name: str,
    numbers: dict[str, str] | None = None,
    bib: dict[str, tuple[str, str]] | None = None,
    solutions: bool = False,
) -> dict:
    """The notebook a student gets for ``nb`` (or, with ``solutions``, the key).

    The student edition's notebook (:func:`tools.student.student_notebook`), with a cell that
    sets up ``grader`` before the first exercise, each answer cell started from its grading
    file's ``answer`` (the key: the solution's code cells instead) and, after an autograded
    exercise's answer, a ``grader.check("<label>")`` cell. ``name`` becomes the notebook's
    ``otter.assignment_name``.
    """
    solved = solution_cells(nb, name) if solutions else {}
    out, _ = student.student_notebook(nb, chapter, numbers=numbers, bib=bib, where=name)
    out = nbformat.from_dict(out)
    pin = f"otter-grader=={requirements.pins()['otter-grader']}"
    cells, placed = [], False
    for cell in out.cells:
        about = cell.get("metadata", {}).get("exercise", {})
        tags = cell.get("metadata", {}).get("tags", [])
        if "exercise" in tags and not placed:
            cells.append(_tagged(nbformat.v4.new_markdown_cell(GRADER_NOTE), TAGS["grader"]))
            grader = nbformat.v4.new_code_cell(GRADER_CELL.format(pin=pin))
            cells.append(_tagged(grader, TAGS["grader"]))
            placed = True
        if "answer" not in tags:
            cells.append(cell)
            continue
        spec = specs[about["label"]]
        if solutions and solved.get(spec.label):
            for code in solved[spec.label]:
                cells.append(_tagged(nbformat.from_dict(code), ["answer"], spec.label))
        else:
            cell.source = spec.answer if spec.answer is not None else MANUAL_ANSWER
            cells.append(cell)
        if spec.autograded:
            check = nbformat.v4.new_code_cell(f'grader.check("{spec.label}")')
            cells.append(_tagged(check, TAGS["check"], spec.label))
    _renumber(cells)
    out.cells = cells
    out.metadata["otter"] = {"assignment_name": name}
    out.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    return out


# --- the key, sliced: the set-up a chapter's answers need, and nothing else -------------------

#: Functions that set global state, which a later cell may rely on without naming it.
SWITCHES = frozenset(
    "set_grad_enabled set_default_dtype set_printoptions manual_seed filterwarnings "
    "simplefilter set_num_threads use_deterministic_algorithms".split()
)
#: Method names that change their object in place (besides torch's ``name_`` convention).
MUTATORS = frozenset(
    "append extend insert update pop clear setdefault eval train backward step zero_grad "
    "load_state_dict register_buffer register_parameter requires_grad_ add_module".split()
)


def _python(source: str) -> str:
    """A cell's source as plain Python (IPython's magics turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _root(node: ast.AST) -> str | None:
    """The variable an attribute or subscript chain starts from: ``a`` of ``a.b[0].c``."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


@dataclass(frozen=True)
class Names:
    """What a code cell does with names, for slicing (an over-approximation, on purpose)."""

    defines: frozenset[str]  # bound at module level, anywhere in the cell
    kills: frozenset[str]  # bound unconditionally, by a top-level statement
    uses: frozenset[str]  # read anywhere, function bodies included
    touches: frozenset[str]  # changed in place: x[...] = , x.attr = , x += , x.add_(...)
    modules: frozenset[str]  # bound by an import
    switches: bool  # sets global state: torch.set_grad_enabled(...), os.environ[...] = ...
    late: frozenset[str] = frozenset()  # read inside function bodies: when called, not now


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def _stored(nodes: Iterable[ast.AST]) -> set[str]:
    return {
        n.id
        for node in nodes
        for n in ast.walk(node)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def _free(node: ast.AST, bound: frozenset[str]) -> set[str]:
    """The names ``node`` reads that are not bound inside it (its function parameters and
    locals, its comprehensions' variables): the globals it reads, when it runs."""
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, ast.Load) and node.id not in bound else set()
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):  # n += 1 reads n
        return _free(node.value, bound) | ({node.target.id} - bound)
    if isinstance(node, _SCOPES):
        outer = set()
        if not isinstance(node, ast.Lambda):
            for deco in node.decorator_list:
                outer |= _free(deco, bound)
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d]:
            outer |= _free(default, bound)
        arguments = node.args
        params = {
            a.arg
            for a in arguments.posonlyargs
            + arguments.args
            + arguments.kwonlyargs
            + [a for a in (arguments.vararg, arguments.kwarg) if a]
        }
        body = node.body if isinstance(node.body, list) else [node.body]
        inner = (
            bound
            | params
            | _stored(body)
            | {
                n.name
                for b in body
                for n in ast.walk(b)
                if isinstance(n, _SCOPES[:2] + (ast.ClassDef,))
            }
        )
        return outer | set().union(*(_free(b, frozenset(inner)) for b in body))
    if isinstance(node, _COMPREHENSIONS):
        inner = frozenset(bound | _stored(g.target for g in node.generators))
        return set().union(*(_free(child, inner) for child in ast.iter_child_nodes(node)))
    return set().union(*(_free(child, bound) for child in ast.iter_child_nodes(node)))


def cell_names(source: str) -> Names | None:
    """The names a code cell binds, reads and changes; None when it is not Python we can read."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return None
    # the code a magic runs (%time, %%capture, ...): IPython passes it as the call's last string
    for node in list(ast.walk(tree)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("run_line_magic", "run_cell_magic")
            and node.args
            and isinstance(node.args[-1], ast.Constant)
            and isinstance(node.args[-1].value, str)
        ):
            try:
                tree.body += ast.parse(node.args[-1].value).body
            except SyntaxError:
                continue
    defines, kills, touches, modules = set(), set(), set(), set()
    switches: list[str] = []  # the global switches the cell calls

    def bind(target: ast.AST, top: bool) -> None:
        if isinstance(target, ast.Name):
            defines.add(target.id)
            if top:
                kills.add(target.id)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                bind(element, top)
        elif isinstance(target, ast.Starred):
            bind(target.value, top)
        elif (root := _root(target)) is not None:
            touches.add(root)

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defines.add(node.name)
            if top:
                kills.add(node.name)
            return  # a body runs later, when called: its reads count as uses only
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound = (alias.asname or alias.name).split(".")[0]
                defines.add(bound)
                modules.add(bound)
                if top:
                    kills.add(bound)
            return
        if isinstance(node, ast.Assign):
            for target in node.targets:
                bind(target, top)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            bind(node.target, False)
            if isinstance(node.target, ast.Name):
                touches.add(node.target.id)
        elif isinstance(node, ast.For | ast.AsyncFor):
            bind(node.target, False)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            bind(node.optional_vars, False)
        elif isinstance(node, ast.NamedExpr):
            bind(node.target, False)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defines.add(node.name)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method = node.func.attr
            if method in SWITCHES:
                switches.append(method)
            if method in MUTATORS or (method.endswith("_") and not method.startswith("_")):
                if (root := _root(node.func.value)) is not None:
                    touches.add(root)
        for child in ast.iter_child_nodes(node):
            visit(child, False)

    for statement in tree.body:
        visit(statement, True)
    functions = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
    ]
    return Names(
        frozenset(defines),
        frozenset(kills),
        frozenset(_free(tree, frozenset())),
        frozenset(touches - modules),
        frozenset(modules),
        switches=bool(switches) or bool(touches & modules),
        late=frozenset().union(*(_free(f, frozenset()) for f in functions)),
    )


def sliced(nb: dict) -> dict:
    """``nb`` (an assignment notebook) cut to what its exercises need, outputs cleared.

    Kept: the code cells up to the one that seeds (``torch.manual_seed``: the set-up and
    imports-and-seeds cells), every cell from the first exercise on, each earlier cell that sets
    global state (``torch.set_grad_enabled``, ``os.environ[...] = ``, ...), and each earlier code
    cell that binds, or changes in place, a name that a kept cell after it reads (a backward
    slice over the cells, by name). Cells tagged ``raises-exception`` before the exercises are
    left out, and so is the main text's prose. This is how ``make test`` grades every chapter's
    key quickly; a change the slice misses (one made inside a function call) shows as a key
    that loses points there.
    """
    nb = copy.deepcopy(nb)
    cells = nb["cells"]
    start = next(
        (
            i
            for i, c in enumerate(cells)
            if set(c.get("metadata", {}).get("tags", [])) & {"exercise", "grader"}
        ),
        len(cells),
    )
    code_before = [i for i in range(start) if cells[i]["cell_type"] == "code"]
    seeding = [i for i in code_before if "manual_seed(" in cells[i]["source"]]
    last = seeding[0] if seeding else max(code_before[:2], default=-1)  # the set-up cells
    preamble = {i for i in code_before if i <= last}
    names = {
        i: cell_names(cells[i]["source"]) for i, c in enumerate(cells) if c["cell_type"] == "code"
    }
    kept: set[int] = set(range(start, len(cells))) | preamble
    while True:  # until the kept cells' functions read nothing new
        # a function reads its globals when it is called, which may be after a later cell
        late = set().union(*(names[i].late for i in kept if names.get(i)))
        live, before = set(late), set(kept)
        for index in sorted(names, reverse=True):
            found = names[index]
            if index not in kept:
                tags = cells[index].get("metadata", {}).get("tags", [])
                if "raises-exception" in tags or found is None:
                    continue
                if not found.switches and not (found.defines | found.touches) & live:
                    continue
                kept.add(index)
            if found is not None:
                live = (live - found.kills) | found.uses
        if kept == before:
            break
    nb["cells"] = [c for i, c in enumerate(cells) if i in kept]
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb


#: Between two chapters run in one kernel: their names gone, torch's switches as at start.
RESET_CELL = """\
%reset -f
import matplotlib.pyplot as plt
import torch

plt.close("all")
torch.set_grad_enabled(True)
torch.set_default_dtype(torch.float32)"""


def combined(keys: list[dict], name: str) -> dict:
    """One notebook that runs the (sliced) ``keys`` of several chapters one after the other,
    each after a cell that empties the namespace (``%reset -f``): so ``make test`` grades
    several chapters' keys in one kernel, which imports torch and the rest once. ``name``
    becomes its ``otter.assignment_name``."""
    out = nbformat.v4.new_notebook()
    out.metadata = copy.deepcopy(keys[0]["metadata"]) if keys else {}
    for key in keys:
        out.cells.append(nbformat.v4.new_code_cell(RESET_CELL))
        out.cells += [nbformat.from_dict(copy.deepcopy(c)) for c in key["cells"]]
    for index, cell in enumerate(out.cells):
        cell["id"] = f"cell-{index}"  # ids unique across the chapters
    out.metadata["otter"] = {"assignment_name": name}
    return out


# --- writing an assignment ---------------------------------------------------------------------


def rubric(name: str, specs: dict[str, Spec], numbers: dict[str, str]) -> str:
    """``rubric.md``: each exercise's points, autograded and by hand, and what to look for."""
    lines = [
        f"# {name}: points and rubric",
        "",
        "| exercise | label | autograded | by hand |",
        "| --- | --- | --- | --- |",
    ]
    for label, spec in specs.items():
        lines.append(
            f"| {numbers.get(label, '')} | `{label}` | {spec.points:g} | {spec.manual_points:g} |"
        )
    total_auto = sum(s.points for s in specs.values())
    total_hand = sum(s.manual_points for s in specs.values())
    lines += [f"| total | | {total_auto:g} | {total_hand:g} |", ""]
    for label, spec in specs.items():
        if spec.manual_points:
            lines += [f"## {numbers.get(label, '')} `{label}` ({spec.manual_points:g} by hand)", ""]
            lines += [spec.rubric or "(no rubric given)", ""]
    return "\n".join(lines)


def _zip_folder(folder: Path, path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(folder).as_posix())


def autograder_zip(specs: Iterable[Spec], path: Path) -> None:
    """``otter generate``'s autograder zip of the tests of ``specs`` (hidden cases included).

    No requirements or environment go in: ``make grade`` grades in the book's own environment.
    (For otter's Docker grader or Gradescope, add the chapter's requirements: ``otter generate
    -r``.)
    """
    import warnings

    with warnings.catch_warnings():  # otter's imports warn about traitlets' deprecations
        warnings.simplefilter("ignore", DeprecationWarning)
        from otter.generate import main as generate

    with tempfile.TemporaryDirectory() as tmp:
        tests = Path(tmp) / "tests"
        tests.mkdir()
        for spec in specs:
            if spec.autograded:
                (tests / f"{spec.label}.py").write_text(named_cases(spec.source), "utf8")
        (Path(tmp) / "otter_config.json").write_text('{"lang": "python"}\n', encoding="utf8")
        with _quiet():
            generate(
                tests_dir=str(tests),
                output_path=str(path.resolve()),
                config=str(Path(tmp) / "otter_config.json"),
                no_requirements=True,
                no_environment=True,
            )


class _quiet:
    """Silence what otter prints while it writes a zip (nothing a reader needs)."""

    def __enter__(self) -> None:
        self._out, self._err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = io.StringIO()

    def __exit__(self, *exc: object) -> None:
        sys.stdout, sys.stderr = self._out, self._err


@dataclass(frozen=True)
class Book:
    """What every chapter's assignment needs from the whole book."""

    root: Path
    chapters: dict[Path, int]  # notebook -> chapter number
    numbers: dict[str, str]  # exercise label -> "2.4"
    bib: dict[str, tuple[str, str]]

    @classmethod
    def read(cls, root: str | Path = ROOT) -> Book:
        root = Path(root).resolve()
        toc_path = root / "_toc.yml"
        chapters = student.chapter_numbers(toc_path)
        pages = [p for p in toc.files(toc_path) if p.suffix == ".ipynb"]
        numbers = {}
        for path in pages:
            nb = nbformat.read(path, as_version=4)
            for ex in student.exercises(nb, chapters.get(path), path.name):
                numbers[ex.label] = ex.number
        config = yaml.safe_load((root / "_config.yml").read_text("utf8")) or {}
        bib = {}
        for name in config.get("bibtex_bibfiles", []):
            bib.update(student.bibliography(root / name))
        return cls(root, {p: chapters.get(p) for p in pages}, numbers, bib)


def write_assignment(chapter: Path, out: Path, book: Book) -> dict[str, Spec]:
    """Write ``out/<chapter>/`` (see the module docstring); return the chapter's specs."""
    chapter = chapter.resolve()
    nb = nbformat.read(chapter, as_version=4)
    specs = chapter_specs(chapter, book.root, nb)
    folder = out / chapter.stem
    if folder.exists():
        shutil.rmtree(folder)
    for sub in ("student/tests", "autograder", "solution"):
        (folder / sub).mkdir(parents=True)
    common = {
        "chapter": book.chapters.get(chapter),
        "name": chapter.stem,
        "numbers": book.numbers,
        "bib": book.bib,
    }
    nbformat.write(assignment_notebook(nb, specs, **common), folder / "student" / chapter.name)
    key = assignment_notebook(nb, specs, **common, solutions=True)
    nbformat.write(key, folder / "solution" / chapter.name)
    for spec in specs.values():
        if spec.autograded:
            (folder / "student/tests" / f"{spec.label}.py").write_text(public_source(spec), "utf8")
    _zip_folder(folder / "student", folder / "student.zip")
    autograder_zip(specs.values(), folder / "autograder" / "autograder.zip")
    (folder / "rubric.md").write_text(rubric(chapter.stem, specs, book.numbers), "utf8")
    return specs


def chapters_with_exercises(root: Path = ROOT) -> list[Path]:
    """The toc's notebooks that hold at least one exercise, in toc order."""
    found = []
    for path in (p for p in toc.files(root / "_toc.yml") if p.suffix == ".ipynb"):
        if student.exercises(nbformat.read(path, as_version=4), None, path.name):
            found.append(path)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="chapters (default: every toc chapter)")
    parser.add_argument("--out", type=Path, default=ROOT / OUT, help="where to write")
    args = parser.parse_args(argv)
    try:
        book = Book.read(ROOT)
        chapters = [Path(p).resolve() for p in args.notebooks] or chapters_with_exercises(ROOT)
        for chapter in chapters:
            specs = write_assignment(chapter, args.out, book)
            auto = sum(1 for s in specs.values() if s.autograded)
            points = sum(s.points for s in specs.values())
            hand = sum(s.manual_points for s in specs.values())
            print(
                f"{chapter.stem}: {len(specs)} exercises, {auto} autograded "
                f"({points:g} points), {hand:g} points by hand -> {args.out / chapter.stem}"
            )
    except (GradingError, student.LayoutError, toc.TocError, FileNotFoundError) as err:
        print(f"tools/assignments.py: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
