"""The built book in a real browser: every page opened in headless Chromium.

Run after the book is built (``make test`` does: these tests carry the ``browser`` marker and run
in its last step; ``make browser`` runs them alone). They read the HTML from ``BOOK_HTML``
(default ``_build/html``) and drive Debian's Chromium (``CHROMIUM``, default
``/usr/bin/chromium``; ``make chromium`` installs it) through playwright. Playwright's own
browsers are never downloaded.

Per page: the title, no console error and no uncaught exception, no request that fails or leaves
the site (the book must render offline: MathJax is served from the site, see _ext/book_assets.py),
every image loaded, every formula typeset by MathJax, one search field and no bar above the page
(only the student edition's announcement may sit there), and on chapter pages the launch and
download buttons pointing at that chapter's notebook. A screenshot of the first chapter is saved
under ``_build/screenshots/``.

Reading at every width (``test_reading_at_every_width``), on every page of the book and on the
introduction and chapters of the student edition (``STUDENT_HTML``, default
``_build/student/html``): at 1280 px no code cell, output, table or formula scrolls sideways, the
smallest text of every figure is at least 8 px on screen (``tools/figure_fonts.py``), and an
axe-core WCAG 2 A/AA audit finds nothing; the introduction and every chapter open with an answer
box before their first code cell, and every chapter ends with a summary that links its proofs;
at 390 px the page never scrolls sideways and the title takes at most four lines. Screenshots of
every page at both widths are saved under ``_build/screenshots/``.
"""

import functools
import http.server
import json
import os
import threading
from pathlib import Path

import nbformat
import pytest
import yaml

from tools import toc
from tools.browser import ARGS

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
STUDENT_HTML = Path(os.environ.get("STUDENT_HTML", ROOT / "_build" / "student" / "html"))
SCREENSHOTS = HTML.parent / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = list(ARGS)  # headless, no calls home: tools/browser.py
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
#: Every page, as its name without suffix relative to the root (notebooks/01_nlp), in toc order.
DOCNAMES = [path.relative_to(ROOT).with_suffix("").as_posix() for path in toc.files()]
NOTEBOOKS = [path.relative_to(ROOT).with_suffix("").as_posix() for path in toc.notebooks()]
PAGES = DOCNAMES + ["search", "genindex"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _serve(html, build):
    """Serve the folder ``html`` on 127.0.0.1 (a free port); yield its base URL."""
    if not (html / "index.html").is_file():
        pytest.fail(f"no built book in {html}: run `{build}` first")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(html))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def site():
    """The built book served on 127.0.0.1 (a free port), as its base URL."""
    yield from _serve(HTML, "make book")


@pytest.fixture(scope="module")
def student_site():
    """The built student edition, served likewise."""
    yield from _serve(STUDENT_HTML, "make book-student")


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
def page(browser, site, block_outside):
    """A fresh page that records every problem: console errors, uncaught exceptions, failed or
    external requests, HTTP errors. Requests that leave the site are blocked, not waited for."""
    yield from _page(browser, site, block_outside)


def _page(browser, site, block_outside):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    problems = []
    block_outside(context, site, lambda url: problems.append(f"request outside the site: {url}"))
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


#: The page's own frame: its search controls outside the text (the search page's form is text),
#: and how far the page starts below the announcement banner (or the top of the window).
FRAME = """() => {
  const shown = (e) => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(e).visibility !== "hidden";
  };
  const controls = ".search-button-field, .search-button, form.bd-search, input[type=search]";
  const searches = Array.from(document.querySelectorAll(controls))
    .filter((e) => shown(e) && !e.closest(".bd-article, .bd-search-container"))
    .map((e) => {
      const box = e.getBoundingClientRect();
      return `${e.tagName.toLowerCase()}.${e.classList[1] || e.classList[0]} at ${box.x},${box.y}`;
    });
  const banner = document.querySelector(".bd-header-announcement");
  const top = banner && shown(banner) ? banner.getBoundingClientRect().bottom : 0;
  const page = document.querySelector(".bd-container");
  return { searches, gap: page ? page.getBoundingClientRect().top - top : null };
}"""


def check_frame(page, docname):
    """One search control, and the page right under the announcement or the window's top.

    pydata-sphinx-theme 0.17 puts a search field in a navbar above the page unless
    ``navbar_persistent`` is set (``_config.yml``): a second "Search Ctrl+K" box in an empty bar.
    """
    frame = page.evaluate(FRAME)
    assert len(frame["searches"]) == 1, (
        f"{docname}: {len(frame['searches'])} search controls, expected one: {frame['searches']}"
    )
    assert frame["gap"] == 0, (
        f"{docname}: the page starts {frame['gap']} px below the announcement (or the window's "
        f"top): a bar above the page (html_theme_options.navbar_persistent in _config.yml?)"
    )


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

    check_frame(page, docname)

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
    page.wait_for_url(f"{site}{DOCNAMES[0]}.html")
    assert not page.problems, "\n".join(page.problems)


def test_narrow_screen_has_one_search_button(page, site):
    """Below the theme's breakpoint the sidebar folds away; search is a button in the article's
    header, still exactly one."""
    page.set_viewport_size({"width": 600, "height": 900})
    page.goto(f"{site}{NOTEBOOKS[0]}.html", wait_until="load")
    check_frame(page, NOTEBOOKS[0])
    assert page.locator(".bd-header-article .search-button").is_visible()
    assert not page.problems, "\n".join(page.problems)


# Reading at every width: what a reader on a 1280 px laptop and on a 390 px phone sees.

#: A laptop and a phone.
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: Elements that may scroll sideways at 1280 px, as "page: text it starts with" -> the reason.
#: Empty: everything fits. An entry needs a reason a reader would accept.
WIDE_OK: dict[str, str] = {}
#: The pages checked in the student edition too: those whose content it changes.
STUDENT_PAGES = [DOCNAMES[0], *NOTEBOOKS]

#: Boxes in the article that clip or scroll what is wider than them (code cells, outputs, tables,
#: formulas), and the page itself.
OVERFLOW = """() => {
  const clipping = ["auto", "scroll", "hidden", "clip"];
  const wide = Array.from(document.querySelectorAll(
      "article.bd-article div, article.bd-article pre, article.bd-article table, "
      + "article.bd-article mjx-container"))
    .filter((e) => e.scrollWidth > e.clientWidth + 1 && e.getClientRects().length
      && clipping.includes(getComputedStyle(e).overflowX))
    .map((e) => ({
      text: e.textContent.replace(/\\s+/g, " ").trim().slice(0, 60),
      width: `${e.scrollWidth} px in ${e.clientWidth} px`,
      section: (e.closest("section") || {}).id || "",
    }));
  const page = document.documentElement;
  return { wide, page: page.scrollWidth > page.clientWidth + 1 ? page.scrollWidth : 0 };
}"""

#: The answer box, whether it stands before the first code cell, and the summary's links.
ANSWER_AND_SUMMARY = """() => {
  const article = document.querySelector("article.bd-article");
  const answer = article.querySelector("div.admonition.answer");
  const code = article.querySelector("div.cell");
  const before = !!answer && (!code
    || !!(answer.compareDocumentPosition(code) & Node.DOCUMENT_POSITION_FOLLOWING));
  const heading = Array.from(article.querySelectorAll("section > h2")).find(
    (h) => /^([\\d.]+\\s+)?Summary$/.test(h.textContent.replace("#", "").trim()));
  const summary = heading ? heading.parentElement : null;
  return {
    answer: !!answer,
    before,
    summary: !!summary,
    links: summary ? summary.querySelectorAll("a.reference.internal").length : 0,
  };
}"""

#: Every image in the article: its address, shown width and natural width.
IMAGES = """() => Array.from(document.querySelectorAll("article.bd-article img")).map((i) => ({
  src: i.currentSrc || i.src, shown: i.getBoundingClientRect().width, natural: i.naturalWidth,
  link: (i.closest("a") || {}).href || "",
}))"""

#: How many lines the title takes.
TITLE_LINES = """() => {
  const h1 = document.querySelector("article h1");
  const line = parseFloat(getComputedStyle(h1).lineHeight);
  return Math.round(h1.getBoundingClientRect().height / line);
}"""


def check_width(page, docname):
    found = page.evaluate(OVERFLOW)
    wide = [
        w for w in found["wide"] if not any(
            f"{docname}: {w['text']}".startswith(ok) for ok in WIDE_OK
        )
    ]  # fmt: skip
    assert not found["page"], f"{docname}: the page is {found['page']} px wide at 1280 px"
    assert not wide, f"{docname}: scrolls sideways at 1280 px (fit it, or list it in WIDE_OK " + (
        "with a reason):\n"
        + "\n".join(f"  {w['width']} in #{w['section']}: {w['text']}" for w in wide)
    )


def check_figures(page, docname):
    from tools.figure_fonts import MIN_PX, on_screen, record

    for image in page.evaluate(IMAGES):
        name = image["src"].rsplit("/", 1)[-1]
        found = record(page.request.get(image["src"]).body())
        assert found, (
            f"{docname}: figure {name} records no smallest text; store chapter figures with "
            f"`make notebooks` (tools/figure_fonts.py)"
        )
        assert image["link"] == image["src"], (
            f"{docname}: figure {name} does not open at full size when tapped "
            f"(_static/figures.js links every figure image to itself)"
        )
        natural, points, dpi = found
        px = on_screen(natural, points, dpi, image["shown"])
        assert px >= MIN_PX, (
            f"{docname}: figure {name}'s smallest text is {px:.1f} px on screen at 1280 px "
            f"({points:g} pt in a {natural} px image shown {image['shown']:.0f} px wide), "
            f"below {MIN_PX:g} px: draw it at the size it is shown, or with larger text"
        )


#: The colours of highlighted code in the code cells: every distinct (text, background) pair.
CODE_COLOURS = """() => {
  const pairs = new Set();
  for (const pre of document.querySelectorAll("article.bd-article div.cell_input pre")) {
    const background = getComputedStyle(pre).backgroundColor;
    for (const span of pre.querySelectorAll("span")) {
      if (span.textContent.trim()) {
        pairs.add(JSON.stringify([getComputedStyle(span).color, background]));
      }
    }
  }
  return Array.from(pairs).map((p) => JSON.parse(p));
}"""


def contrast(foreground: str, background: str) -> float:
    """WCAG 2's contrast ratio of two CSS colours written as ``rgb(r, g, b)``."""

    def luminance(css):
        channels = [int(v) / 255 for v in css[css.index("(") + 1 : -1].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def check_accessibility(page, docname):
    """axe-core's WCAG 2 A/AA rules on the page. The code cells' highlighting holds thousands of
    coloured spans, which make axe's contrast rule take seconds a page; their few distinct
    colour pairs are checked directly instead, against AA's 4.5."""
    from axe_playwright_python.sync_playwright import Axe

    low = [
        (fg, bg, round(contrast(fg, bg), 2))
        for fg, bg in page.evaluate(CODE_COLOURS)
        if contrast(fg, bg) < 4.5
    ]
    assert not low, f"{docname}: code colours below a contrast of 4.5: {low}"
    results = Axe().run(
        page,
        context={"exclude": [["div.cell_input"]]},
        options={
            "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]},
            "resultTypes": ["violations"],
            # No CSSOM preload: axe would fetch the theme's @import of basic.css from the site's
            # root (a 404). The rules that need it (css-orientation-lock) are not A/AA.
            "preload": False,
        },
    )
    assert results.violations_count == 0, (
        f"{docname}: WCAG 2 A/AA violations (axe-core):\n"
        + "\n".join(
            f"  {v['id']} ({v['impact']}): {v['help']}; "
            + ", ".join(str(n["target"]) for n in v["nodes"][:4])
            for v in results.response["violations"]
        )
    )


@pytest.mark.parametrize(
    "edition, docname",
    [("book", d) for d in DOCNAMES] + [("student", d) for d in STUDENT_PAGES],
)
def test_reading_at_every_width(request, browser, block_outside, edition, docname):
    """At 1280 px nothing scrolls sideways, every figure's text is legible, and the page passes
    a WCAG 2 A/AA audit; a chapter opens with its answer and ends with a linked summary; at
    390 px the page itself never scrolls sideways and the title fits in four lines.
    Screenshots of both widths are saved (book edition)."""
    base = request.getfixturevalue("site" if edition == "book" else "student_site")
    pages = _page(browser, base, block_outside)
    try:
        check_reading(next(pages), base, edition, docname)
    finally:
        pages.close()  # closes the browser context


def check_reading(tab, base, edition, docname):
    tab.set_viewport_size(DESKTOP)
    tab.goto(f"{base}{docname}.html", wait_until="load")
    tab.evaluate(WAIT_FOR_MATHJAX)
    tab.evaluate(LOAD_IMAGES)
    check_width(tab, docname)
    check_figures(tab, docname)
    check_accessibility(tab, docname)
    if docname in NOTEBOOKS or docname == DOCNAMES[0]:
        found = tab.evaluate(ANSWER_AND_SUMMARY)
        assert found["answer"] and found["before"], (
            f"{docname}: no answer box (an admonition with class `answer`) before the first "
            f"code cell"
        )
        if docname in NOTEBOOKS:
            assert found["summary"] and found["links"], (
                f"{docname}: no `## Summary` section linking the sections that prove it"
            )
    name = Path(docname).name
    if edition == "book":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SCREENSHOTS / f"{name}-1280.png"))
    tab.set_viewport_size(PHONE)
    tab.wait_for_timeout(100)
    wide = tab.evaluate(OVERFLOW)["page"]
    assert not wide, f"{docname}: the page is {wide} px wide on a 390 px phone"
    lines = tab.evaluate(TITLE_LINES)
    assert lines <= 4, f"{docname}: the title takes {lines} lines on a 390 px phone"
    if edition == "book":
        tab.screenshot(path=str(SCREENSHOTS / f"{name}-390.png"))
    assert not tab.problems, f"{docname}:\n" + "\n".join(tab.problems)
