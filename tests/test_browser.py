"""The built book in a real browser: every page opened in headless Chromium.

Run after the book is built (``make test`` does: these tests carry the ``browser`` marker and run
in its last step; ``make browser`` runs them alone). They read the HTML from ``BOOK_HTML``
(default ``_build/html``) and the student edition from ``STUDENT_HTML`` (default
``_build/student/html``), and drive Debian's Chromium (``CHROMIUM``, default
``/usr/bin/chromium``; ``make chromium`` installs it) through playwright. Playwright's own
browsers are never downloaded.

Per page: the title, no console error and no uncaught exception, no request that fails or leaves
the site (the book must render offline: MathJax is served from the site, see _ext/book_assets.py),
every image loaded, every formula typeset by MathJax, and on chapter pages the launch and download
buttons pointing at that chapter's notebook. A screenshot of the first chapter is saved under
``_build/screenshots/``.
"""

import functools
import html.parser
import http.server
import json
import os
import re
import threading
from pathlib import Path

import nbformat
import pytest
import yaml

from normlab.student import split_solutions

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
STUDENT_HTML = Path(os.environ.get("STUDENT_HTML", ROOT / "_build" / "student" / "html"))
SCREENSHOTS = HTML.parent / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))


def toc_files():
    files = [TOC["root"]]
    for part in TOC.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters", [])]
    return files


NOTEBOOKS = [f for f in toc_files() if f.startswith("notebooks/")]
PAGES = toc_files() + ["search", "genindex"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    """The built book served on 127.0.0.1 (a free port), as its base URL."""
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book in {HTML}: run `make book` first (or set BOOK_HTML)")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(HTML))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: run `make chromium` (it runs "
            f"`apt-get install chromium`), or set CHROMIUM to the browser's path"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, site):
    """A fresh page that records every problem: console errors, uncaught exceptions, failed or
    external requests, HTTP errors. Requests that leave the site are blocked, not waited for."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    problems = []

    def route(r):
        if r.request.url.startswith(site):
            r.continue_()
        else:
            problems.append(f"request outside the site: {r.request.url}")
            r.abort()

    context.route("**/*", route)
    tab = context.new_page()
    tab.on(
        "console",
        lambda m: (
            m.type in ("error", "assert")
            and problems.append(f"console {m.type}: {m.text} ({m.location.get('url')})")
        ),
    )
    tab.on("pageerror", lambda e: problems.append(f"uncaught exception: {e}"))
    tab.on(
        "requestfailed",
        lambda r: r.url.startswith(site) and problems.append(f"failed: {r.url} {r.failure}"),
    )
    tab.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    tab.problems = problems
    yield tab
    context.close()


WAIT_FOR_MATHJAX = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
    return true;
  }
  return false;
}"""

LOAD_IMAGES = """async () => {
  const images = Array.from(document.images);
  for (const img of images) { img.loading = "eager"; }
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  return images.filter((img) => !(img.complete && img.naturalWidth > 0))
               .map((img) => img.currentSrc || img.src);
}"""

MATH = """() => {
  const math = Array.from(document.querySelectorAll(".math"));
  return {
    count: math.length,
    untypeset: math.filter((m) => !m.querySelector("mjx-container"))
                   .map((m) => m.textContent.slice(0, 80)),
    errors: Array.from(document.querySelectorAll("mjx-merror")).map((e) => e.textContent),
    scripts: Array.from(document.scripts).map((s) => s.src).filter((s) => /mathjax/i.test(s)),
  };
}"""

HEADING = """() => {
  const h1 = document.querySelector("article h1") || document.querySelector("main h1");
  if (!h1) { return null; }
  const copy = h1.cloneNode(true);
  copy.querySelectorAll(".headerlink").forEach((a) => a.remove());
  return copy.textContent.replace(/\\s+/g, " ").trim();
}"""


@pytest.mark.parametrize("docname", PAGES)
def test_page(page, site, docname):
    page.goto(f"{site}{docname}.html", wait_until="load")
    page.evaluate(WAIT_FOR_MATHJAX)

    title, book = page.title(), CONFIG["title"]
    heading = page.evaluate(HEADING)
    assert heading, f"{docname}: no h1 heading"
    assert title in (f"{heading} — {book}", f"{heading} - {book}"), (
        f"{docname}: title {title!r}, expected the heading {heading!r} and the book's title"
    )

    broken = page.evaluate(LOAD_IMAGES)
    assert not broken, f"{docname}: images that did not load: {broken}"

    math = page.evaluate(MATH)
    if math["count"]:
        assert math["scripts"] and all(s.startswith(site) for s in math["scripts"]), (
            f"{docname}: MathJax must be served from the site, found {math['scripts']}; "
            f"install requirements.txt (sphinx-mathjax-offline) and rebuild"
        )
        assert not math["untypeset"], f"{docname}: formulas MathJax did not typeset: {math}"
        assert not math["errors"], f"{docname}: MathJax errors: {math['errors']}"

    if docname in NOTEBOOKS:
        check_buttons(page, site, docname)
        if docname == NOTEBOOKS[0]:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{Path(docname).name}.png"))

    assert not page.problems, f"{docname}:\n" + "\n".join(page.problems)


def check_buttons(page, site, docname):
    """The launch (Binder, Colab) and download buttons of a chapter point at its notebook."""
    repo = CONFIG["repository"]
    org, name = repo["url"].rstrip("/").split("/")[-2:]
    branch = repo["branch"]
    launch = CONFIG["launch_buttons"]
    expected = {
        "Binder": f"{launch['binderhub_url'].rstrip('/')}/v2/gh/{org}/{name}/{branch}"
        f"?urlpath=tree/{docname}.ipynb",
        "Colab": f"{launch['colab_url'].rstrip('/')}/github/{org}/{name}/blob/{branch}/"
        f"{docname}.ipynb",
    }
    for button in (".dropdown-launch-buttons > button", ".dropdown-download-buttons > button"):
        assert page.locator(button).is_visible(), f"{docname}: {button} is not visible"
    links = page.eval_on_selector_all(
        ".dropdown-launch-buttons a", "(links) => links.map((a) => a.href)"
    )
    for service, url in expected.items():
        assert url in links, f"{docname}: no {service} button to {url}; launch links: {links}"

    downloads = page.eval_on_selector_all(
        ".dropdown-download-buttons a", "(links) => links.map((a) => a.href)"
    )
    notebook = f"{site}_sources/{docname}.ipynb"
    assert notebook in downloads, f"{docname}: no download of {notebook}; found {downloads}"
    response = page.request.get(notebook)
    assert response.ok, f"{docname}: the download button's notebook answers {response.status}"
    served = json.loads(response.body())
    source = nbformat.read(ROOT / f"{docname}.ipynb", as_version=4)
    assert len(served["cells"]) == len(source.cells), f"{docname}: the download is not the chapter"


def test_home_page_redirects_to_the_introduction(page, site):
    page.goto(f"{site}index.html")
    page.wait_for_url(f"{site}{TOC['root']}.html")
    assert not page.problems, "\n".join(page.problems)


# The student edition (make book-student): checked on its HTML, no browser needed.


class _Text(html.parser.HTMLParser):
    """The text of an HTML page, without scripts and styles, whitespace collapsed."""

    def __init__(self):
        super().__init__()
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def page_text(path):
    parser = _Text()
    parser.feed(path.read_text(encoding="utf8"))
    return re.sub(r"\s+", " ", "".join(parser.parts))


def _plain(text):
    return re.sub(r"\s+", " ", text.replace("`", "").replace("*", "")).strip()


def fingerprints(solution, elsewhere):
    """Pieces of a solution that its rendered HTML contains verbatim and the rest of the chapter
    does not: whole lines of at least 20 characters (code), and runs of at least five words of
    prose between punctuation and math. ``elsewhere`` is the chapter without its solutions."""
    pieces = []
    for line in solution.splitlines():
        line = line.strip()
        if line.startswith(("```", ":::", ":")):
            continue
        if len(line) >= 20:
            pieces.append(re.sub(r"\s+", " ", line))
        prose = re.sub(r"\$[^$]*\$", "|", line)
        for fragment in re.split(r"[|,.;:!?()\[\]{}]", _plain(prose)):
            if len(fragment.split()) >= 5:
                pieces.append(fragment.strip())
    rest = _plain(elsewhere)
    return [p for p in dict.fromkeys(pieces) if _plain(p) not in rest]


def solutions_by_chapter():
    """``{docname: [fingerprints of each solution]}`` for every chapter."""
    out = {}
    for docname in NOTEBOOKS:
        nb = nbformat.read(ROOT / f"{docname}.ipynb", as_version=4)
        student, solutions = split_solutions(nb)
        elsewhere = "\n".join(c["source"] for c in student["cells"])
        out[docname] = [fingerprints(s, elsewhere) for s in solutions]
    return out


def exercise_count(nb):
    pattern = re.compile(r"^(`{3,}|:{3,})\{exercise(-start)?\}", re.MULTILINE)
    return sum(len(pattern.findall(c.source)) for c in nb.cells if c.cell_type == "markdown")


def test_student_edition_has_the_exercises_and_no_solutions():
    if not (STUDENT_HTML / "index.html").is_file():
        pytest.fail(f"no student edition in {STUDENT_HTML}: run `make book-student` first")
    checked = 0
    for docname, solutions in solutions_by_chapter().items():
        path = STUDENT_HTML / f"{docname}.html"
        html_source = path.read_text(encoding="utf8")
        box = re.search(r'class="solution[ "]', html_source)
        assert box is None, f"{docname}: a solution box in the student edition"
        nb = nbformat.read(ROOT / f"{docname}.ipynb", as_version=4)
        shown = len(re.findall(r'class="exercise[ "]', html_source))
        assert shown == exercise_count(nb), f"{docname}: {shown} exercises shown"
        text = page_text(path)
        for pieces in solutions:
            for piece in pieces:
                assert piece not in text, (
                    f"{docname}: solution text in the student edition: {piece}"
                )
                checked += 1
        download = STUDENT_HTML / "_sources" / f"{docname}.ipynb"
        student_nb = nbformat.read(download, as_version=4)
        assert split_solutions(student_nb)[1] == [], f"{docname}: the download has solutions"
        assert len(student_nb.cells) < len(nb.cells) or not solutions
    assert checked, "no solution in any chapter: nothing was checked"


def test_solution_fingerprints_are_found_in_the_full_book():
    """The check above is only as good as its fingerprints: each solution must leave at least one
    in the full book's HTML, or the student edition's check would pass vacuously."""
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book in {HTML}: run `make book` first (or set BOOK_HTML)")
    for docname, solutions in solutions_by_chapter().items():
        text = page_text(HTML / f"{docname}.html")
        for index, pieces in enumerate(solutions, start=1):
            found = [p for p in pieces if p in text]
            assert found, f"{docname}: solution {index} leaves no fingerprint in the book: {pieces}"
