"""The book as one PDF, printed from its built HTML by Chromium: ``make pdf``, ``make pdf-student``.

    python -m tools.pdf book       # _build/html         -> _build/pdf/<title>.pdf
    python -m tools.pdf student    # _build/student/html -> _build/pdf/<title>-student.pdf
    python -m tools.pdf book --html DIR --out FILE

The built site is served on 127.0.0.1 and its root page opened in headless Chromium (the one
the browser tests drive: ``CHROMIUM``, else the one ``tools/browser.py`` finds). A script in
that page (``COMBINE``) then puts every page of the site into it, in the order of the
navigation sidebar (the table of contents, so the student edition prints the pages it has): a
title page with the contents, then each page's article on new sheets. Ids are prefixed with
their page's name (two chapters both have a ``summary``), links between pages become links
inside the document, and links to what the PDF does not hold (the search page, the index, a
notebook download) keep their text and lose the link. Solutions folded in dropdowns and hidden
code cells are printed open. MathJax typesets every formula (a display formula wider than the
paper is set smaller until it fits), every image loads, and the page is printed to A4, its text
at 87.5 % of the site's, with page numbers and working internal links. The outline (bookmarks:
every page, and its sections under it) is then appended to the file (``add_outline``).
Nothing is downloaded: requests that leave 127.0.0.1 are refused.

Before printing, the page is checked as laid out for print: code, outputs, tables, formulas and
figures must fit the width of the paper (``_static/book.css`` wraps code under
``@media print``). Anything wider is an error that names its page and its text.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: A4 with 16 mm margins at the sides: 178 mm of text, 673 CSS px at 96 px per inch.
MARGIN_MM = {"top": 16, "bottom": 18, "left": 16, "right": 16}
TEXT_WIDTH_PX = round((210 - MARGIN_MM["left"] - MARGIN_MM["right"]) / 25.4 * 96)
#: No tagged PDF (the structure a screen reader reads): Chromium's doubles the file's size
#: (10 to 20 MB) and adds seconds to the print; the HTML book is the accessible edition.
TAGGED = False
FOOTER = (
    '<div style="font-size: 8px; width: 100%; text-align: center; color: #555;">'
    '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
)

#: The printed page's own rules (the book's, under @media print in _static/book.css, apply
#: too): each page on new sheets, and each page's title shown (the theme hides the first h1
#: in print, as its own print header repeats it).
STYLE = """
@media print {
  html { font-size: 87.5%; }
  section.pdf-page { break-before: page; }
  .bd-main .bd-content .bd-article section h1:first-of-type { display: block; }
  .bd-main .bd-content { margin-left: 0; }
  .bd-main .bd-content .bd-article-container { max-width: none; }
  section.pdf-title > h1 { font-size: 2.4em; margin-top: 25%; }
  section.pdf-title nav { break-before: page; }
  section.pdf-title nav p.caption { font-weight: 600; margin: 1em 0 0.2em; }
  section.pdf-title nav ul { list-style: none; padding-left: 0; margin: 0; }
  section.pdf-title nav ul ul { padding-left: 1.5em; font-size: 0.9em; }
}
"""

#: Puts every page of the site into the root page (see the module docstring); returns the
#: pages it put in, as {path, anchor, title, caption, sections: [{anchor, title}]}, where
#: sections are the page's h2 sections. The contents on the title page link to every page and
#: section, which makes Chromium write a named destination for each (tools/pdf.py's outline
#: points at them).
COMBINE = """async (style) => {
  const root = new URL(location.href);
  const anchor = (url) => "p-" + url.pathname.replace(/^\\//, "").replace(/\\.html$/, "")
    .replace(/[^\\w-]/g, "-");
  const nav = document.querySelector("nav.bd-docs-nav");
  if (!nav) { throw new Error(`${root.pathname}: no navigation (nav.bd-docs-nav)`); }
  const pages = [];
  const add = (url, title, caption) => {
    url = new URL(url, root);
    url.hash = "";
    if (!pages.some((p) => p.url.href === url.href)) {
      pages.push({ url, anchor: anchor(url), title, caption });
    }
  };
  const heading = (h1) => {
    const copy = h1.cloneNode(true);
    copy.querySelectorAll(".headerlink").forEach((a) => a.remove());
    return copy.textContent.replace(/\\s+/g, " ").trim();
  };
  add(root, heading(document.querySelector("article h1")), "");
  for (const link of nav.querySelectorAll("a.reference.internal")) {
    const list = link.closest("ul");
    let caption = list && list.previousElementSibling;
    caption = caption && caption.matches("p.caption") ? caption.textContent.trim() : "";
    add(link.href, link.textContent.replace(/\\s+/g, " ").trim(), caption);
  }
  const byPath = new Map(pages.map((p) => [p.url.pathname, p]));

  const articles = await Promise.all(pages.map(async (page) => {
    const response = await fetch(page.url);
    if (!response.ok) { throw new Error(`${page.url.pathname}: HTTP ${response.status}`); }
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const article = doc.querySelector("article.bd-article");
    if (!article) { throw new Error(`${page.url.pathname}: no article.bd-article`); }
    const h1 = article.querySelector("h1");
    page.title = h1 ? heading(h1) : page.title;  // the page's own title, as printed
    return [page, article];
  }));

  const printed = [];
  for (const [page, article] of articles) {
    for (const e of article.querySelectorAll("[id]")) { e.id = `${page.anchor}--${e.id}`; }
    for (const e of article.querySelectorAll("[src]")) {
      e.setAttribute("src", new URL(e.getAttribute("src"), page.url).href);
    }
    for (const a of article.querySelectorAll("a[href]")) {
      const target = new URL(a.getAttribute("href"), page.url);
      const inside = target.origin === root.origin ? byPath.get(target.pathname) : null;
      if (inside) {
        const fragment = decodeURIComponent(target.hash.slice(1));
        a.setAttribute("href", "#" + inside.anchor + (fragment ? `--${fragment}` : ""));
      } else if (target.origin === root.origin) {
        a.replaceWith(...a.childNodes);  // search, index, a download: nowhere to go on paper
      }
    }
    for (const e of article.querySelectorAll(".dropdown, .toggle")) {
      e.classList.remove("dropdown", "toggle");
    }
    for (const e of article.querySelectorAll("details")) { e.open = true; }
    page.sections = Array.from(article.querySelectorAll("section[id] > h2"))
      .map((h2) => ({ anchor: h2.parentElement.id, title: heading(h2) }));
    const section = document.createElement("section");
    section.className = "pdf-page";
    section.id = page.anchor;
    section.dataset.docname = page.url.pathname.replace(/^\\//, "").replace(/\\.html$/, "");
    section.append(...article.childNodes);
    printed.push(section);
  }

  const title = document.querySelector(".logo__title");
  const banner = document.querySelector(".bd-header-announcement");
  const licence = document.querySelector(".extra_footer");
  const front = document.createElement("section");
  front.className = "pdf-title";
  const h1 = document.createElement("h1");
  h1.textContent = title ? title.textContent.trim() : document.title;
  front.append(h1);
  if (banner && banner.textContent.trim()) {
    const p = document.createElement("p");
    p.innerHTML = `<em>${banner.textContent.trim()}</em>`;
    front.append(p);
  }
  if (licence) { front.append(...licence.cloneNode(true).childNodes); }
  const contents = document.createElement("nav");
  contents.setAttribute("aria-label", "Contents");
  contents.innerHTML = "<h2>Contents</h2>";
  let list = null, caption = null;
  for (const page of pages) {
    if (!list || page.caption !== caption) {
      caption = page.caption;
      if (caption) {
        const p = document.createElement("p");
        p.className = "caption";
        p.textContent = caption;
        contents.append(p);
      }
      list = document.createElement("ul");
      contents.append(list);
    }
    const item = document.createElement("li");
    const entry = (anchor, title) => {
      const a = document.createElement("a");
      a.className = "reference internal";
      a.href = `#${anchor}`;
      a.textContent = title;
      return a;
    };
    item.append(entry(page.anchor, page.title));
    if (page.sections.length) {
      const sub = document.createElement("ul");
      for (const section of page.sections) {
        const li = document.createElement("li");
        li.append(entry(section.anchor, section.title));
        sub.append(li);
      }
      item.append(sub);
    }
    list.append(item);
  }
  front.append(contents);

  const frame = [".bd-header", ".bd-sidebar-primary", ".bd-sidebar-secondary",
    ".bd-header-article", "#jb-print-docs-body", ".searchbox", ".prev-next-footer",
    ".bd-footer-content", "footer.bd-footer", "dialog", ".pst-back-to-top", ".skip-link",
    ".bd-header-announcement", ".pst-async-banner-revealer"];
  document.querySelectorAll(frame.join(", ")).forEach((e) => e.remove());
  const main = document.querySelector("article.bd-article");
  main.replaceChildren(front, ...printed);
  document.title = h1.textContent;
  document.documentElement.dataset.theme = "light";
  document.documentElement.dataset.mode = "light";
  const css = document.createElement("style");
  css.textContent = style;
  document.head.append(css);

  if (!(window.MathJax && MathJax.typesetPromise)) { throw new Error("MathJax did not load"); }
  await MathJax.startup.promise;
  MathJax.typesetClear();
  await MathJax.typesetPromise([main]);
  return pages.map((p) => ({
    path: p.url.pathname.replace(/^\\//, ""), anchor: p.anchor, title: p.title,
    caption: p.caption, sections: p.sections,
  }));
}"""

#: Display formulas wider than the text, set in a smaller font until they fit (MathJax 3 does
#: not break lines); returns how many it shrank.
FIT_MATH = """() => {
  let shrunk = 0;
  for (const math of document.querySelectorAll('article mjx-container[display="true"]')) {
    const range = document.createRange();
    range.selectNodeContents(math.querySelector(":scope > mjx-math") || math);
    const [box, room] = [range.getBoundingClientRect().width, math.clientWidth - 4];
    if (box > room) {
      math.style.fontSize = `${Math.floor((100 * room) / box)}%`;
      shrunk += 1;
    }
  }
  return shrunk;
}"""

#: Images that did not load, formulas MathJax could not typeset, and code, outputs, tables,
#: formulas or images that reach past the right edge of the text (the text itself, measured
#: with a Range, also where it overflows its box or is clipped by it).
PROBLEMS = """async () => {
  const images = Array.from(document.images);
  for (const img of images) { img.loading = "eager"; }
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  const right = document.querySelector("article.bd-article").getBoundingClientRect().right + 2;
  const page = (e) => (e.closest("section.pdf-page") || { dataset: {} }).dataset.docname
    || "title page";
  const extent = (e) => {
    const range = document.createRange();
    range.selectNodeContents(e.querySelector(":scope > mjx-math") || e);  // not assistive MML
    return Math.max(e.getBoundingClientRect().right, range.getBoundingClientRect().right);
  };
  const wide = Array.from(document.querySelectorAll(
      "article pre, article table, article mjx-container, article img, article div.cell_output"))
    .filter((e) => e.getClientRects().length && extent(e) > right)
    .map((e) => `${page(e)}: ${e.tagName.toLowerCase()} ${Math.round(extent(e) - right)} px `
      + `too wide: ${e.textContent.replace(/\\s+/g, " ").trim().slice(0, 60)}`);
  return {
    images: images.filter((img) => !(img.complete && img.naturalWidth > 0))
      .map((img) => img.currentSrc || img.src),
    math: Array.from(document.querySelectorAll("mjx-merror"))
      .map((e) => `${page(e)}: ${e.textContent.slice(0, 80)}`),
    wide,
  };
}"""


class PdfError(RuntimeError):
    """The built site cannot be printed as it is (what and why in the message)."""


def slug(title: str) -> str:
    """``"Where does LayerNorm normalize?"`` -> ``"where-does-layernorm-normalize"``."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def editions(root: Path = ROOT) -> dict[str, tuple[Path, Path]]:
    """``{edition: (built HTML folder, PDF path)}`` for the book and its student edition, the
    PDFs named after the book's title in ``_config.yml``."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf8"))
    name = slug(config["title"])
    return {
        "book": (root / "_build" / "html", root / "_build" / "pdf" / f"{name}.pdf"),
        "student": (
            root / "_build" / "student" / "html",
            root / "_build" / "pdf" / f"{name}-student.pdf",
        ),
    }


def root_page(html: Path) -> str:
    """The page ``index.html`` sends a reader to (Jupyter Book's root), e.g. ``book/intro.html``."""
    index = html / "index.html"
    if not index.is_file():
        raise PdfError(f"no built book in {html} (no index.html): build it first (make book)")
    text = index.read_text(encoding="utf8")
    match = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', text, re.IGNORECASE)
    return match[1] if match else "index.html"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve(html: Path) -> Iterator[str]:
    """Serve the folder ``html`` on 127.0.0.1 (a free port); yield its base URL."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(html))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def chromium() -> str:
    """The browser to print with: ``CHROMIUM``, else the one tools/browser.py finds."""
    from tools import browser

    found = browser.find()
    if found is None:
        raise PdfError(
            "no Chromium or Chrome found: run `make pdf` (it finds or installs one), or set "
            "CHROMIUM=/path/to/chromium"
        )
    return found


def build(html: Path, out: Path, executable: str | None = None) -> list[dict]:
    """Print the built site in ``html`` to the PDF ``out``.

    Returns the pages printed, in order, as ``{path, anchor, title, caption, sections}``
    (``anchor`` names the destination of the page's first sheet; ``sections`` are its h2
    sections as ``{anchor, title}``). Raises PdfError when the site is not
    built, a page cannot be read, an image does not load, MathJax fails, or something is wider
    than the paper.
    """
    from playwright.sync_api import Error, sync_playwright

    from tools.browser import ARGS

    start = root_page(html)
    out.parent.mkdir(parents=True, exist_ok=True)
    with serve(html) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable or chromium(), args=list(ARGS)
        )
        try:
            context = browser.new_context(
                viewport={"width": TEXT_WIDTH_PX, "height": 1000}, color_scheme="light"
            )
            outside = lambda route: route.abort()  # noqa: E731
            context.route(lambda url: not url.startswith(base), outside)
            tab = context.new_page()
            tab.emulate_media(media="print", color_scheme="light")
            tab.goto(base + start, wait_until="load", timeout=120_000)
            try:
                printed = tab.evaluate(COMBINE, STYLE)
            except Error as err:
                raise PdfError(f"{html}: cannot put the pages together: {err.message}") from err
            tab.evaluate(FIT_MATH)
            _check(html, tab.evaluate(PROBLEMS))
            tab.pdf(
                path=str(out),
                format="A4",
                margin={side: f"{mm}mm" for side, mm in MARGIN_MM.items()},
                print_background=True,
                tagged=TAGGED,
                display_header_footer=True,
                header_template="<span></span>",
                footer_template=FOOTER,
            )
        finally:
            browser.close()
    add_outline(out, printed)
    return printed


Entry = tuple[str, str, list]  # (title, named destination, entries under it)


def _entries(printed: list[dict]) -> list[Entry]:
    """One entry per printed page, with one per h2 section of the page under it."""
    return [
        (page["title"], page["anchor"], [(s["title"], s["anchor"], []) for s in page["sections"]])
        for page in printed
    ]


def add_outline(path: Path, printed: list[dict]) -> int:
    """Append the PDF's outline (bookmarks) to ``path`` as an incremental update: an entry for
    each printed page, with one for each of its h2 sections under it (closed), each pointing at
    the named destination Chromium wrote for the contents' link. Returns the number of entries.

    Chromium can write an outline itself (``outline=True``), but it takes each heading's text
    from its laid-out lines: a title that wraps loses the space at the wrap, and one that meets
    a page break is written twice. Rewriting the whole file with pypdf takes seconds; the update
    appends a few kilobytes.
    """
    from pypdf import PdfReader
    from pypdf.generic import (
        DictionaryObject,
        IndirectObject,
        NameObject,
        NumberObject,
        TextStringObject,
    )

    reader = PdfReader(path)
    catalog = reader.trailer["/Root"]
    named = set(catalog["/Dests"].get_object()) if "/Dests" in catalog else set()
    entries = _entries(printed)
    anchors = [a for _, page, subs in entries for a in [page, *(s[1] for s in subs)]]
    missing = [anchor for anchor in anchors if f"/{anchor}" not in named]
    if missing:
        raise PdfError(
            f"{path}: Chromium wrote no destination for {missing[:5]} ({len(missing)} in all), "
            f"so the outline cannot point at them; are they linked from the contents?"
        )
    numbers = iter(range(int(reader.trailer["/Size"]), sys.maxsize))
    objects: dict[int, DictionaryObject] = {}

    def ref(number: int) -> IndirectObject:
        return IndirectObject(number, 0, reader)

    def chain(siblings: list[Entry], parent: int) -> list[int]:
        """Write ``siblings`` under the object ``parent``; return their object numbers."""
        ids = [next(numbers) for _ in siblings]
        for i, (number, (title, anchor, children)) in enumerate(zip(ids, siblings, strict=True)):
            item = DictionaryObject(
                {
                    NameObject("/Title"): TextStringObject(title),
                    NameObject("/Parent"): ref(parent),
                    NameObject("/Dest"): NameObject(f"/{anchor}"),
                }
            )
            if i:
                item[NameObject("/Prev")] = ref(ids[i - 1])
            if i + 1 < len(ids):
                item[NameObject("/Next")] = ref(ids[i + 1])
            if children:
                kids = chain(children, number)
                item[NameObject("/First")] = ref(kids[0])
                item[NameObject("/Last")] = ref(kids[-1])
                item[NameObject("/Count")] = NumberObject(-len(kids))  # closed
            objects[number] = item
        return ids

    top = next(numbers)
    first = chain(entries, top)
    objects[top] = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Outlines"),
            NameObject("/First"): ref(first[0]),
            NameObject("/Last"): ref(first[-1]),
            NameObject("/Count"): NumberObject(len(first)),
        }
    )
    updated = DictionaryObject(catalog)
    updated[NameObject("/Outlines")] = ref(top)
    updated[NameObject("/PageMode")] = NameObject("/UseOutlines")
    objects[reader.trailer.raw_get("/Root").idnum] = updated
    _append_update(path, objects, reader)
    return len(anchors)


def _append_update(path: Path, objects: dict, reader) -> None:
    """Append ``objects`` (``{number: pypdf object}``), their xref section and a trailer that
    points back at the file's own (PDF 1.7, 7.5.6: incremental updates)."""
    import io

    from pypdf.generic import DictionaryObject, NameObject, NumberObject

    size = path.stat().st_size
    with path.open("rb") as file:
        file.seek(max(0, size - 1024))
        found = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", file.read())
    if not found:
        raise PdfError(f"{path}: no startxref at the end of the file; is it a PDF?")
    body, offsets = io.BytesIO(b"\n"), {}
    for number in sorted(objects):
        offsets[number] = size + body.tell()
        body.write(f"{number} 0 obj\n".encode())
        objects[number].write_to_stream(body)
        body.write(b"\nendobj\n")
    xref = size + body.tell()
    body.write(b"xref\n0 1\n0000000000 65535 f \n")  # the free list's head, as readers expect
    for number in sorted(objects):
        body.write(f"{number} 1\n{offsets[number]:010d} 00000 n \n".encode())
    trailer = DictionaryObject(
        {
            NameObject("/Size"): NumberObject(max(objects) + 1),
            NameObject("/Root"): reader.trailer.raw_get("/Root"),
            NameObject("/Prev"): NumberObject(int(found[1])),
        }
    )
    if "/Info" in reader.trailer:
        trailer[NameObject("/Info")] = reader.trailer.raw_get("/Info")
    body.write(b"trailer\n")
    trailer.write_to_stream(body)
    body.write(f"\nstartxref\n{xref}\n%%EOF\n".encode())
    with path.open("ab") as file:
        file.write(body.getvalue())


def _check(html: Path, found: dict[str, list[str]]) -> None:
    if found["images"]:
        raise PdfError(f"{html}: images that did not load: {found['images']}")
    if found["math"]:
        raise PdfError(f"{html}: formulas MathJax could not typeset: {found['math']}")
    if found["wide"]:
        raise PdfError(
            f"{html}: {len(found['wide'])} element(s) reach past the right edge of the paper's "
            f"{TEXT_WIDTH_PX} px of text (wrap code under @media print in _static/book.css; a "
            f"formula that is not display maths must fit a line):\n  "
            + "\n  ".join(found["wide"][:20])
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("edition", choices=["book", "student"], help="which built book")
    parser.add_argument("--html", type=Path, help="the built HTML (default: the edition's)")
    parser.add_argument("--out", type=Path, help="the PDF to write (default: the edition's)")
    args = parser.parse_args(argv)
    html, out = editions()[args.edition]
    html, out = args.html or html, args.out or out
    try:
        printed = build(html, out, os.environ.get("CHROMIUM") or None)
    except PdfError as err:
        print(f"tools/pdf.py: error: {err}", file=sys.stderr)
        return 2
    print(f"{len(printed)} pages of {html} printed to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
