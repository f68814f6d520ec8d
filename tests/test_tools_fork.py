"""tools/fork.py (`make fork URL=... [BRANCH=...]`) renames the repository in every place that
names it, and the repository's own consistency checks still pass on the result."""

import shutil
import subprocess

import nbformat
import pytest
import yaml

from tools import fork, pairs, setup_cell, toc

ROOT = toc.ROOT
NEW = "https://github.com/my-course/ln-book"


def repository_copy(target):
    """The repository's own files (tracked, or untracked and not ignored) copied to target."""
    for path in fork.repository_files(ROOT):
        (target / path.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / path.relative_to(ROOT))
    return target


def test_a_fork_passes_the_repositorys_own_checks(tmp_path):
    """On a copy of the repository: after `make fork URL=... BRANCH=course` the set-up cells
    agree with the config, every text pair with its notebook, the outputs still read as one
    fresh run, the workflows run on the new branch, and the old name is nowhere."""
    copy = repository_copy(tmp_path / "fork")
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
    old_owner, old_name = fork.parse_url(config["repository"]["url"])

    changed = fork.fork(copy, NEW, "course")

    forked = yaml.safe_load((copy / "_config.yml").read_text(encoding="utf8"))["repository"]
    assert (forked["url"], forked["branch"]) == (NEW, "course")
    chapters = toc.notebooks(copy / "_toc.yml")
    assert set(chapters) <= set(changed)
    for notebook in chapters:
        assert setup_cell.problems(notebook, copy) == []
        assert pairs.problems(notebook) == []
        code = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
        assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), notebook
    assert fork.problems(copy) == []
    for path in fork.repository_files(copy):
        try:
            text = path.read_text(encoding="utf8")
        except UnicodeDecodeError:
            continue
        assert f"{old_owner}/{old_name}" not in text, f"{path}: still names the old repository"
    # Run again: nothing left to change.
    assert fork.fork(copy, NEW, "course") == []


@pytest.mark.parametrize(
    "url",
    [
        "",
        "github.com/me/book",
        "http://github.com/me/book",
        "https://gitlab.com/me/book",
        "https://github.com/me",
        "https://github.com/me/book/tree/main",
        "https://github.com/-me/book",
        "https://github.com/me/..",
    ],
)
def test_a_url_that_is_no_github_repository_is_one_clear_line(url, capsys):
    assert fork.main([url, "--root", str(ROOT)]) == 2
    assert capsys.readouterr().err == (
        f"tools/fork.py: error: URL must be a GitHub repository URL like "
        f"https://github.com/ORG/REPO, got {url!r}\n"
    )


def test_urls_are_taken_in_their_usual_spellings():
    assert fork.parse_url("https://github.com/My-Org/my.book.git") == ("My-Org", "my.book")
    assert fork.parse_url(" https://github.com/a/b/ ") == ("a", "b")


def test_a_branch_git_would_refuse_is_refused(capsys):
    assert fork.main([NEW, "--branch", "a..b", "--root", str(ROOT)]) == 2
    assert capsys.readouterr().err == (
        "tools/fork.py: error: BRANCH must be a git branch name (letters, digits, '.', '_', "
        "'-', '/'), got 'a..b'\n"
    )


def test_every_link_to_the_repository_is_renamed():
    text = (
        "https://github.com/old-org/book and https://github.com/old-org/book.git\n"
        "https://mybinder.org/v2/gh/old-org/book/main?urlpath=tree/notebooks/01.ipynb\n"
        "https://colab.research.google.com/github/old-org/book/blob/main/notebooks/01.ipynb\n"
        "https://old-org.github.io/book/ and old-org/book-two and maintained\n"
    )
    assert fork.rename(text, ("old-org", "book"), ("New", "b"), ("main", "course")) == (
        "https://github.com/New/b and https://github.com/New/b.git\n"
        "https://mybinder.org/v2/gh/New/b/course?urlpath=tree/notebooks/01.ipynb\n"
        "https://colab.research.google.com/github/New/b/blob/course/notebooks/01.ipynb\n"
        "https://new.github.io/b/ and old-org/book-two and maintained\n"
    )


def test_the_config_keeps_its_comments_and_the_workflows_their_other_branches():
    config = "# a comment\nrepository:\n  # which\n  url: https://github.com/a/b\n  branch: main\n"
    assert fork.set_repository(config, NEW, "course") == (
        f"# a comment\nrepository:\n  # which\n  url: {NEW}\n  branch: course\n"
    )
    with pytest.raises(fork.ForkError, match="must have a repository: section"):
        fork.set_repository("title: T\n", NEW, "main")
    workflow = "on:\n  push:\n    branches: [main, 'release']\n"
    assert fork.workflow_branches(workflow, "main", "course") == (
        "on:\n  push:\n    branches: [course, 'release']\n"
    )


def small_book(root, pair_text=None):
    (root / "notebooks" / "text").mkdir(parents=True)
    (root / "_config.yml").write_text(
        "repository:\n  url: https://github.com/a/b\n  branch: main\n"
    )
    (root / "_toc.yml").write_text("format: jb-book\nroot: notebooks/01\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# See https://github.com/a/b")]
    nbformat.write(nb, root / "notebooks" / "01.ipynb")
    pairs.sync(root / "notebooks" / "01.ipynb")
    if pair_text is not None:
        pairs.text_path(root / "notebooks" / "01.ipynb").write_text(pair_text)


def test_an_edited_text_pair_stops_the_fork_before_anything_changes(tmp_path, capsys):
    small_book(tmp_path, pair_text="# An edit not yet synced\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert fork.main([NEW, "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tools/fork.py: error: {tmp_path}/notebooks/text/01.md differs from ")
    assert err.endswith("Nothing was changed; bring the pairs in line first\n")
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_the_fork_names_the_next_steps(tmp_path, capsys):
    small_book(tmp_path)
    assert fork.main([NEW, "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "_config.yml: rewritten" in out and "notebooks/text/01.md: rewritten" in out
    assert "Actions and Issues switched off" in out
    assert NEW in (tmp_path / "notebooks" / "text" / "01.md").read_text()


def test_make_fork_passes_url_and_branch():
    argv = ["make", "-n", "fork", f"URL={NEW}", "BRANCH=course"]
    dry = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert f'-m tools.fork "{NEW}" --branch "course"' in dry
