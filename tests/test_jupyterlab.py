"""Run locally as README says: ``make lab``, then a chapter run through JupyterLab's interface.

A browser test (``make browser`` runs it; it needs Chromium, ``CHROMIUM`` as in test_browser.py).
JupyterLab starts with the command line ``make lab`` uses (tools/lab.py), on 127.0.0.1 with a
token, in a temporary copy of the book's layout: ``jupytext.toml`` and chapter 1 with its outputs
cleared, so nothing in the repository is touched. Headless Chromium opens the chapter, runs every
cell from the Run menu, waits until every code cell has its execution count and the kernel is
idle, and then checks what a reader sees: no error or stderr output except in the cell tagged
``raises-exception``, the probe's description among the outputs, and the chapter's MyST
rendered by jupyterlab-myst (the answer box an admonition, no directive shown as text). Saving
(Ctrl+S) writes the notebook with its outputs and, through jupytext, its text pair
``notebooks/text/01_nlp.md``.
Nothing leaves the machine: the browser may only talk to this JupyterLab, and JupyterLab runs
with its news, update check and PyPI extension manager off (tools/lab.py). Every wait has a
timeout, and JupyterLab is shut down through its API (killed if it does not stop).
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS

from tools import lab, toc

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = toc.notebooks()[0].relative_to(ROOT)  # notebooks/01_nlp.ipynb
#: A line chapter 1 prints (normlab.probe's description of nn.LayerNorm(D) on [N, T, D]).
KNOWN_LINE = "mean and variance over (D): one pair per (N, T) position, 6 in all"
#: Seconds: JupyterLab's start, the notebook's opening with its kernel, the run of every cell.
START, OPEN, RUN = 30, 30, 60
#: The reader's first visit without the question about JupyterLab's news, which is off anyway.
SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}
}

#: What the notebook shows: each code cell's prompt ("[3]:", "[*]:" while it runs), the cells
#: (indices as in the notebook) with an error or stderr output, and the outputs' text.
SHOWN = """() => {
  const cells = Array.from(document.querySelectorAll(".jp-Notebook .jp-Cell"));
  const bad = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], ' +
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]';
  return {
    prompts: cells.filter((cell) => cell.classList.contains("jp-CodeCell"))
      .map((cell) => cell.querySelector(".jp-InputPrompt").textContent.trim()),
    errors: cells.flatMap((cell, index) => (cell.querySelector(bad) ? [index] : [])),
    text: cells.map((cell) => cell.querySelector(".jp-OutputArea")?.textContent || "").join("\\n"),
  };
}"""
#: The rendered Markdown cells (JupyterLab's renderer, or jupyterlab-myst's).
RENDERED = ".jp-MarkdownCell .jp-RenderedMarkdown, .jp-MarkdownCell .myst"
#: How the rendered cells show MyST: the admonitions, and the cells that show a directive as text.
MYST = f"""() => ({{
  admonitions: document.querySelectorAll(".jp-MarkdownCell .myst-admonition").length,
  raw: Array.from(document.querySelectorAll({RENDERED!r})).map((e) => e.textContent)
    .filter((text) => /[:`]{{3}}\\{{\\w/.test(text)).map((text) => text.slice(0, 80)),
}})"""
#: Every code cell ran, or a cell that may not raise did (Run All stops there).
DONE = f"""(raises) => {{
  const shown = ({SHOWN})();
  return shown.prompts.every((p) => /^\\[\\d+\\]:$/.test(p)) ||
    shown.errors.some((index) => !raises.includes(index));
}}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def git_status() -> set[str]:
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return set(done.stdout.splitlines()) if done.returncode == 0 else set()


@pytest.fixture
def book(tmp_path):
    """A copy of the book's layout with chapter 1, outputs cleared; the raises-exception cells."""
    shutil.copy(ROOT / "jupytext.toml", tmp_path)
    nb = nbformat.read(ROOT / CHAPTER, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    (tmp_path / CHAPTER).parent.mkdir(parents=True)
    nbformat.write(nb, tmp_path / CHAPTER)
    raises = [i for i, c in enumerate(nb.cells) if "raises-exception" in c.metadata.get("tags", [])]
    return tmp_path, raises


@pytest.fixture
def jupyterlab(book, tmp_path_factory):
    """JupyterLab as ``make lab`` starts it, on the copy; yields (base URL, token, its log)."""
    root, _ = book
    home = tmp_path_factory.mktemp("jupyter")  # its settings, runtime files, workspaces
    for name, values in SETTINGS.items():
        path = home / "settings" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = lab.environment()
    for variable in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
        env[variable] = str(home / variable.lower())
    port, token = free_port(), secrets.token_hex(16)
    argv = lab.command(
        root,
        ip="127.0.0.1",
        port=port,
        token=token,
        open_browser=False,
        extra=[
            f"--LabApp.user_settings_dir={home / 'settings'}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
        ],
    )
    log = home / "jupyterlab.log"
    with log.open("w") as out:
        server = subprocess.Popen(argv, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited ({server.returncode}):\n{log.read_text()}")
            try:
                urllib.request.urlopen(f"{base}api/status?token={token}", timeout=2)
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer in {START} s:\n{log.read_text()}")
                time.sleep(0.2)
        yield base, token, log
    finally:
        shutdown = urllib.request.Request(
            f"{base}api/shutdown", method="POST", headers={"Authorization": f"token {token}"}
        )
        try:
            urllib.request.urlopen(shutdown, timeout=5)
            server.wait(timeout=15)
        except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
            server.kill()
            server.wait(timeout=10)


@pytest.fixture
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: set CHROMIUM to the browser's path")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_chapter_runs_in_jupyterlab(book, jupyterlab, browser, block_outside):
    before = git_status()
    root, raises = book
    base, token, log = jupyterlab
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside = block_outside(context, base)
    page = context.new_page()
    page.set_default_timeout(OPEN * 1000)
    try:
        # The URL make lab prints; the file browser opens at notebooks/, where the reader
        # double-clicks the chapter.
        page.goto(f"{base}lab?token={token}")
        page.locator(".jp-BreadCrumbs").get_by_text(CHAPTER.parent.name).wait_for()
        page.locator(".jp-DirListing-item", has_text=CHAPTER.name).dblclick()
        page.locator(".jp-StatusBar-Widget").get_by_text("Python 3 | Idle").wait_for()
        page.locator(RENDERED).first.wait_for()
        myst = page.evaluate(MYST)

        page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
        page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click()
        page.wait_for_function(DONE, arg=raises, timeout=RUN * 1000)
        page.locator(".jp-StatusBar-Widget").get_by_text("Python 3 | Idle").wait_for()
        shown = page.evaluate(SHOWN)

        # Saved when the tab's "unsaved" mark goes (the server writes both files first). The
        # requests pass this process's route() only while it waits on playwright, so it waits
        # on the page, never in time.sleep.
        unsaved = page.locator(".jp-mod-dirty")
        unsaved.first.wait_for(state="attached")
        page.keyboard.press("Control+s")
        unsaved.first.wait_for(state="detached")
    finally:
        context.close()

    nb = nbformat.read(root / CHAPTER, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert shown["errors"] == raises, (
        f"error or stderr output in cells {shown['errors']}; only {raises} (raises-exception) may"
    )
    assert shown["prompts"] == [f"[{n}]:" for n in range(1, len(code) + 1)], shown["prompts"]
    assert KNOWN_LINE in shown["text"], f"{KNOWN_LINE!r} is not among the outputs"
    # jupyterlab-myst renders the MyST: the answer box under the title is an admonition.
    assert myst["admonitions"] and not myst["raw"], f"MyST shown as text (jupyterlab-myst?): {myst}"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "not saved"
    pair = root / CHAPTER.parent / "text" / f"{CHAPTER.stem}.md"
    assert pair.is_file(), "saving in JupyterLab did not write the text pair (jupytext.toml)"
    assert not outside, f"requests that leave the machine: {outside}"
    # The kernel's sockets are encrypted (tools/lab.py), so its log has no warning about them.
    assert "without encryption" not in log.read_text(), log.read_text()[-2000:]
    assert git_status() <= before, f"the repository changed: {git_status() - before}"
