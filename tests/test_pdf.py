"""The PDF editions, printed from the built books (``make pdf``, ``make pdf-student``).

Run after the books are built, in ``make test``'s browser step: the book's PDF with the book's
browser tests, the student edition's with the student's (the ``student`` in the test ids sends
them to that half). Each edition is printed once, by ``tools.pdf.build`` (what ``make pdf``
runs), to its usual place in ``_build/pdf/``, and the file is then checked:

- the page count is plausible: at least a title, contents and a sheet per page of the book,
  and at most 40 sheets per page;
- every page's title (its h1 in the HTML) is in the text, in the order of the toc, each on the
  sheet its bookmark opens, and the bookmarks are the pages in that order;
- every caption number the HTML shows ("Figure 5.2", "Exercise 5.2") is in the text, in order;
- every link either opens a named destination in the file or leaves for the web, never for the
  local server the book was printed from;
- every line of code and of output (each ``<pre>`` of the HTML) is in the text whole and in
  order: a line cut off at the edge of the paper, or clipped by its box, is not;
- no text reaches into the right margin.

Expectations come from the toc and the built HTML, not from what the tool reports.
"""

import html
import os
import re
from pathlib import Path

import pytest

from tools import pdf, toc

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
EDITIONS = pdf.editions(ROOT)
STUDENT_SRC = Path(os.environ.get("STUDENT_SRC", ROOT / "_build" / "student" / "src"))
TOCS = {"book": ROOT / "_toc.yml", "student": STUDENT_SRC / "_toc.yml"}
HTML = {
    "book": Path(os.environ.get("BOOK_HTML", EDITIONS["book"][0])),
    "student": Path(os.environ.get("STUDENT_HTML", EDITIONS["student"][0])),
}
PRE = re.compile(r"<pre[^>]*>(.*?)</pre>", re.DOTALL)
CAPTION = re.compile(r'<span class="caption-number">((?:Figure|Exercise|Table) [\d.]*\d) ?</span>')
H1 = re.compile(r"<h1>(.*?)</h1>", re.DOTALL)
#: A4's width in points, and the right edge of the text.
PAGE_WIDTH = 210 / 25.4 * 72
RIGHT_EDGE = PAGE_WIDTH - pdf.MARGIN_MM["right"] / 25.4 * 72


def plain(text):
    """Text without tags or the heading's link mark, whitespace made single spaces."""
    text = re.sub(r'<a class="headerlink".*?</a>', "", text)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"\s+", " ", text).strip()


def squash(text):
    return re.sub(r"\s+", "", text)


def expected(edition):
    """``[(html page, its h1, [its caption numbers], [its lines of code and output])]`` in toc
    order."""
    built, found = HTML[edition], []
    if not TOCS[edition].is_file():
        pytest.fail(f"no {TOCS[edition]}: build the {edition} edition first (make books)")
    source = TOCS[edition].parent
    for path in toc.files(TOCS[edition]):
        page = built / path.relative_to(source).with_suffix(".html")
        text = page.read_text(encoding="utf8")
        article = text[text.index('<article class="bd-article"') :]
        code = [
            line
            for block in PRE.findall(article)
            for line in html.unescape(re.sub(r"<[^>]+>", "", block)).splitlines()
            if line.strip()
        ]
        found.append((page, plain(H1.search(article)[1]), CAPTION.findall(article), code))
    return found


@pytest.fixture(scope="module", params=["book", "student"])
def printed(request):
    """``(edition, PDF path)``, printed once per edition by tools.pdf.build."""
    edition = request.param
    out = EDITIONS[edition][1]
    pdf.build(HTML[edition], out, os.environ.get("CHROMIUM") or None)
    return edition, out


@pytest.fixture(scope="module")
def document(printed):
    """The PDF as ``(edition, path, [each sheet's text], pypdfium2 document)``; a sheet's text
    without its footer (the page number)."""
    import pypdfium2

    edition, path = printed
    doc = pypdfium2.PdfDocument(path)
    texts = [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    texts = [re.sub(r"\s+", " ", re.sub(r"\d+ / \d+\s*$", "", t)) for t in texts]
    yield edition, path, texts, doc
    doc.close()


def test_page_count_is_plausible(document):
    edition, path, texts, _ = document
    pages = len(expected(edition))
    assert pages + 2 <= len(texts) <= 40 * pages, (
        f"{path}: {len(texts)} sheets for {pages} pages of the book"
    )


def test_every_title_in_toc_order_with_its_bookmark(document):
    from pypdf import PdfReader

    edition, path, texts, _ = document
    reader = PdfReader(path)
    titles = [title for _, title, _, _ in expected(edition)]
    outline = [item for item in reader.outline if not isinstance(item, list)]
    assert [item.title for item in outline] == titles, f"{path}: the bookmarks are not the toc"
    sheets = [reader.get_destination_page_number(item) for item in outline]
    assert sheets == sorted(sheets), f"{path}: bookmarks out of order: {sheets}"
    for title, sheet in zip(titles, sheets, strict=True):
        assert title in texts[sheet], f"{path}: sheet {sheet + 1} (bookmark) lacks {title!r}"
    whole, at = " ".join(texts[sheets[0] :]), 0
    for title in titles:
        at = whole.find(title, at)
        assert at >= 0, f"{path}: {title!r} is missing, or out of toc order"


def test_every_caption_number_in_order(document):
    edition, path, texts, _ = document
    whole, at, numbers = " ".join(texts), 0, 0
    for page, _, captions, _ in expected(edition):
        for number in captions:
            found = re.compile(re.escape(number) + r"(?![\d]|\.\d)").search(whole, at)
            assert found, f"{path}: {number} ({page.name}) is missing, or out of order"
            at, numbers = found.end(), numbers + 1
    assert numbers, f"{path}: the HTML shows no caption numbers; is it the built book?"


def test_every_line_of_code_whole_and_in_order(document):
    """Each line of every code cell and output, compared without whitespace (a long line wraps
    at the edge of the paper), follows the one before it in the PDF's text."""
    edition, path, texts, _ = document
    whole, at, lines = squash(" ".join(texts)), 0, 0
    for page, _, _, code in expected(edition):
        for line in code:
            found = whole.find(squash(line), at)
            assert found >= 0, (
                f"{path}: a line of {page.name} is cut off, missing or out of order: {line!r}"
            )
            at, lines = found + len(squash(line)), lines + 1
    assert lines, f"{path}: the HTML holds no code; is it the built book?"


def test_links_stay_in_the_document_or_go_to_the_web(document):
    from pypdf import PdfReader

    _, path, _, _ = document
    reader = PdfReader(path)
    dests = reader.trailer["/Root"]["/Dests"].get_object()
    internal, bad = 0, []
    for number, sheet in enumerate(reader.pages, start=1):
        for annotation in sheet.get("/Annots") or []:
            link = annotation.get_object()
            if link.get("/Subtype") != "/Link":
                continue
            if "/Dest" in link:
                internal += 1
                if link["/Dest"] not in dests:
                    bad.append(f"sheet {number}: no destination {link['/Dest']}")
                continue
            uri = str(link.get("/A", {}).get("/URI", ""))
            if not re.match(r"https?://", uri) or re.match(r"https?://(127\.|localhost)", uri):
                bad.append(f"sheet {number}: link to {uri!r}")
    assert not bad, f"{path}: links that go nowhere:\n" + "\n".join(bad[:20])
    assert internal >= len(reader.outline), f"{path}: only {internal} internal links"


def test_no_text_reaches_into_the_right_margin(document):
    """Text rectangles of each sheet (pdfium's, one per run of text on a line) end before the
    right margin. MathJax draws fraction bars and roots as glyphs far wider than the sheet,
    starting left of it and clipped; those start off the sheet and are not text."""
    _, path, _, doc = document
    past = []
    for number in range(len(doc)):
        text = doc[number].get_textpage()
        for index in range(text.count_rects()):
            left, bottom, right, top = text.get_rect(index)
            if left >= 0 and right > RIGHT_EDGE + 1:
                words = text.get_text_bounded(left, bottom, right, top)
                past.append(f"sheet {number + 1}: {right - RIGHT_EDGE:.0f} pt over: {words!r}")
    assert not past, f"{path}: text past the right margin:\n" + "\n".join(past[:20])
