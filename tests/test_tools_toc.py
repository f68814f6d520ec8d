"""tools/toc.py: the one reader of _toc.yml (the Makefile, the tools and the tests use it).

It reads the toc as Jupyter Book does (with sphinx-external-toc), and refuses what the book
would not build as the chapters listed: a name that is not a file, a glob, an entry with no file.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from tools import toc

ROOT = Path(__file__).resolve().parents[1]


def make_book(root: Path, toc_text: str, names: list[str]) -> Path:
    """A toc in root with the given text, and an empty page for each of names."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}" if path.suffix == ".ipynb" else "# page\n", encoding="utf8")
    path = root / "_toc.yml"
    path.write_text(toc_text, encoding="utf8")
    return path


BOOK = ["intro.md", "notebooks/01_a.ipynb", "notebooks/02_b.ipynb", "notebooks/03_c.ipynb"]


def test_a_trailing_comment_does_not_drop_a_chapter(tmp_path):
    path = make_book(
        tmp_path,
        "format: jb-book\n"
        "root: intro\n"
        "parts:\n"
        "  - caption: Chapters\n"
        "    chapters:\n"
        "      - file: notebooks/01_a\n"
        "      - file: notebooks/02_b  # the vision chapter\n"
        '      - file: "notebooks/03_c"\n',
        BOOK,
    )
    assert toc.notebooks(path) == [tmp_path / name for name in BOOK[1:]]
    assert toc.files(path) == [tmp_path / name for name in BOOK]


def test_sections_and_chapters_without_parts_keep_reading_order(tmp_path):
    path = make_book(
        tmp_path,
        "format: jb-book\n"
        "root: intro\n"
        "chapters:\n"
        "  - file: notebooks/02_b\n"
        "    sections:\n"
        "      - file: notebooks/01_a\n"
        "  - url: https://example.org\n"
        "  - file: notebooks/03_c.ipynb\n",
        BOOK,
    )
    assert [p.name for p in toc.notebooks(path)] == ["02_b.ipynb", "01_a.ipynb", "03_c.ipynb"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("- file: notebooks/04_missing", "no such file exists"),
        ("- glob: notebooks/*", "glob entries"),
        ("- title: no file", "does not contain one of"),
    ],
)
def test_an_entry_that_is_not_a_file_is_an_error(tmp_path, entry, message):
    path = make_book(tmp_path, f"format: jb-book\nroot: intro\nchapters:\n  {entry}\n", BOOK)
    with pytest.raises(toc.TocError, match=message):
        toc.notebooks(path)


def test_the_command_prints_paths_or_fails_loudly(tmp_path):
    head = "format: jb-book\nroot: intro\nchapters:\n"
    good = make_book(tmp_path, head + "  - file: notebooks/01_a # one\n", BOOK)
    command = [sys.executable, str(ROOT / "tools" / "toc.py"), "notebooks", "--toc"]
    done = subprocess.run([*command, str(good)], capture_output=True, text=True, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "notebooks/01_a.ipynb\n")
    bad = tmp_path / "bad.yml"
    bad.write_text(head + "  - file: notebooks/09_gone\n", encoding="utf8")
    done = subprocess.run([*command, str(bad)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert "09_gone" in done.stderr and "no such file" in done.stderr
