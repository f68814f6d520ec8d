"""Point a fork of the book at its own repository, in one command.

    make fork URL=https://github.com/ORG/REPO [BRANCH=course]
    python -m tools.fork https://github.com/ORG/REPO [--branch course] [--root .]

The repository is named in several places, and the tests check that they agree:

- ``repository.url`` and ``repository.branch`` in ``_config.yml`` (the launch, download and
  repository buttons);
- the hidden set-up cell of every chapter (``REPO = "..."``, where Colab installs ``normlab``
  from), rewritten by ``tools.setup_cell``, and each chapter's text pair ``notebooks/text/*.md``;
- any other file of the repository that names it: its address, ``ORG/REPO`` in a Binder or Colab
  link (with the branch after ``blob/``, ``tree/`` or ``gh/ORG/REPO/``), its Pages address
  ``ORG.github.io/REPO``; and, when the branch changes, the ``branches: [...]`` the workflows in
  ``.github/workflows`` run on.

The files are those git tracks (or would add: untracked files that are not ignored); outside a
git repository, every file but ``.venv``, ``_build`` and hidden folders. Before it writes
anything the tool checks the URL (a GitHub repository, ``https://github.com/ORG/REPO``), the
branch, and that every text pair agrees with its notebook (an edited pair would be overwritten);
any problem is one line on stderr and exit status 2, with nothing changed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tools import pairs, setup_cell, toc
from tools.student import edition_settings, rewrite_setup_cell

ROOT = Path(__file__).resolve().parents[1]
#: A GitHub repository's address: owner (letters, digits, hyphens) and name.
GITHUB = re.compile(
    r"https://github\.com/(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))"
    r"/(?P<name>[A-Za-z0-9._-]+?)(?:\.git)?/?"
)
#: A branch name this tool accepts (a subset of what git allows, without shell surprises).
BRANCH = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*")
#: A workflow's list of branches: ``branches: [main]``.
BRANCHES = re.compile(r"^(?P<head>\s*branches:\s*\[)(?P<names>[^\]]*)(?P<tail>\].*)$", re.M)
#: Folders that are never part of the repository's own files.
NOT_TRACKED = {".git", ".venv", "_build", "node_modules", "__pycache__"}


class ForkError(ValueError):
    """An argument or the repository's state that ``fork`` refuses, with what to do instead."""


def parse_url(url: str) -> tuple[str, str]:
    """``(owner, name)`` of a GitHub repository URL; ForkError for anything else."""
    found = GITHUB.fullmatch(url.strip())
    if found is None or found["name"] in (".", ".."):
        raise ForkError(
            f"URL must be a GitHub repository URL like https://github.com/ORG/REPO, got {url!r}"
        )
    return found["owner"], found["name"]


def check_branch(branch: str) -> str:
    if not BRANCH.fullmatch(branch) or ".." in branch or branch.endswith((".lock", ".")):
        raise ForkError(
            f"BRANCH must be a git branch name (letters, digits, '.', '_', '-', '/'), "
            f"got {branch!r}"
        )
    return branch


def repository_files(root: Path) -> list[Path]:
    """The repository's own files: tracked or addable in git, else all but build outputs."""
    done = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode == 0 and (root / ".git").exists():
        names = sorted(set(filter(None, done.stdout.split("\0"))))
        return [root / name for name in names if (root / name).is_file()]
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and not any(
            part in NOT_TRACKED or (part.startswith(".") and part != ".github")
            for part in path.relative_to(root).parts[:-1]
        )
    )


def rename(text: str, old: tuple[str, str], new: tuple[str, str], branches: tuple[str, str]) -> str:
    """``text`` with the repository ``old`` (owner, name) named ``new``, and the branch in
    its links moved from ``branches[0]`` to ``branches[1]``."""
    (old_owner, old_name), (new_owner, new_name) = old, new
    old_branch, new_branch = branches
    pages = re.compile(
        rf"\b{re.escape(old_owner)}\.github\.io/{re.escape(old_name)}(?![\w-])", re.I
    )
    text = pages.sub(f"{new_owner.lower()}.github.io/{new_name}", text)
    slug = re.compile(rf"(?<![\w.-]){re.escape(old_owner)}/{re.escape(old_name)}(?![\w-])")
    text = slug.sub(f"{new_owner}/{new_name}", text)
    if old_branch != new_branch:
        here = re.escape(f"{new_owner}/{new_name}/")
        link = rf"(?P<at>{here}(?:blob/|tree/|edit/|raw/)?){re.escape(old_branch)}"
        text = re.sub(rf"{link}(?=[/?#\s)\"'\]]|$)", rf"\g<at>{new_branch}", text, flags=re.M)
    return text


def set_repository(config: str, url: str, branch: str) -> str:
    """``_config.yml``'s text with ``repository.url`` and ``.branch`` set (comments kept)."""
    block = re.search(r"^repository:[ \t]*\n(?:[ \t]+.*\n|[ \t]*\n)*", config, re.M)
    if block is None:
        raise ForkError("_config.yml must have a repository: section with url and branch")
    text = block[0]
    for key, value in (("url", url), ("branch", branch)):
        text, count = re.subn(
            rf"^([ \t]+{key}:[ \t]*).*$", rf"\g<1>{value}", text, count=1, flags=re.M
        )
        if count == 0:
            raise ForkError(f"_config.yml: the repository: section must have a {key}: line")
    return config[: block.start()] + text + config[block.end() :]


def workflow_branches(text: str, old: str, new: str) -> str:
    """A workflow's text with ``old`` replaced by ``new`` in its ``branches: [...]`` lists."""

    def replace(found: re.Match) -> str:
        names = [name.strip() for name in found["names"].split(",")]
        names = [new if name.strip("'\"") == old else name for name in names]
        return f"{found['head']}{', '.join(names)}{found['tail']}"

    return BRANCHES.sub(replace, text)


def problems(root: Path = ROOT) -> list[str]:
    """What keeps the repository's names from agreeing: the config's URL, the student branch,
    the workflows' branches (set-up cells and text pairs: tools/setup_cell.py, tools/pairs.py)."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf8"))
    url, branch = config["repository"]["url"], config["repository"]["branch"]
    found = []
    for check in (lambda: parse_url(url), lambda: check_branch(branch)):
        try:
            check()
        except ForkError as err:
            found.append(f"_config.yml: repository: {err}")
    if "student_edition" in config:  # the book's sources (the student edition's have none)
        try:
            edition_settings(config)
        except ValueError as err:
            found.append(str(err))
    for workflow in sorted((root / ".github" / "workflows").glob("*.y*ml")):
        for lists in BRANCHES.finditer(workflow.read_text(encoding="utf8")):
            names = [name.strip().strip("'\"") for name in lists["names"].split(",")]
            if branch not in names:
                found.append(
                    f"{workflow.relative_to(root)}: runs on branches {names}, not on "
                    f"repository.branch {branch!r} of _config.yml; run make fork again"
                )
    return found


def fork(root: Path, url: str, branch: str | None = None) -> list[Path]:
    """Rename the repository in every place that names it (module docstring); return the files
    changed. ``branch`` None keeps the branch of ``_config.yml``."""
    root = Path(root).resolve()
    new = parse_url(url)
    url = f"https://github.com/{new[0]}/{new[1]}"
    config_path = root / "_config.yml"
    config_text = config_path.read_text(encoding="utf8")
    config = yaml.safe_load(config_text)
    old_url, old_branch = config["repository"]["url"], config["repository"]["branch"]
    old = parse_url(old_url)
    branch = check_branch(branch or old_branch)
    student = (config.get("student_edition") or {}).get("branch", "student")
    if branch == student:
        raise ForkError(
            f"BRANCH must differ from the student edition's branch (student_edition.branch in "
            f"_config.yml), got {branch!r} for both"
        )
    chapters = toc.notebooks(root / "_toc.yml")
    stale = [p for notebook in chapters for p in pairs.problems(notebook)]
    if stale:
        raise ForkError(
            f"{stale[0].splitlines()[0]} Nothing was changed; bring the pairs in line first"
        )

    changed = []
    names = (old_branch, branch)
    config_text = set_repository(rename(config_text, old, new, names), url, branch)
    for path in repository_files(root):
        try:
            text = path.read_text(encoding="utf8")
        except UnicodeDecodeError:
            continue  # images and other binary files
        if path == config_path:
            new_text = config_text
        else:
            new_text = rename(text, old, new, names)
        if path.parent == root / ".github" / "workflows" and old_branch != branch:
            new_text = workflow_branches(new_text, old_branch, branch)
        if new_text != text:
            path.write_text(new_text, encoding="utf8")
            changed.append(path)
    for notebook in chapters:
        if setup_cell.problems(notebook, root):
            rewrite_setup_cell(notebook, root)
            changed.append(notebook)
        if pairs.sync(notebook):
            changed.append(pairs.text_path(notebook))
    return sorted(set(changed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the fork: https://github.com/ORG/REPO")
    parser.add_argument("--branch", help="its default branch (default: _config.yml's)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's folder")
    args = parser.parse_args(argv)
    try:
        changed = fork(args.root, args.url, args.branch)
        found = problems(args.root)
        if found:
            raise ForkError("; ".join(found))
    except (ForkError, ValueError) as err:
        print(f"tools/fork.py: error: {err}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"{path.relative_to(args.root.resolve())}: rewritten")
    print(
        f"{len(changed)} file(s) now name {args.url}. Next: `make test`, then commit and push. "
        f"On GitHub a new fork starts with Actions and Issues switched off: turn on Actions "
        f"(the Actions tab) and Issues (Settings > General > Features), and Pages with "
        f"'GitHub Actions' as the source (Settings > Pages)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
