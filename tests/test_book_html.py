"""The built book's HTML, read as files (``make test`` runs this with ``-m built`` after the build):
every figure of a chapter is numbered by chapter, captioned, and described by real alt text."""

import html.parser
import os
import re
from pathlib import Path

import pytest

from tools import toc

pytestmark = pytest.mark.built

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
CHAPTERS = [path.relative_to(ROOT).with_suffix("") for path in toc.notebooks()]
#: Alt text that is only a file name or a path, as Sphinx writes when none is given.
PATH_LIKE = re.compile(r"(^|/)[\w.-]+\.(png|svg|jpe?g)$|^_images/|^\.\./")


class Figures(html.parser.HTMLParser):
    """Collects each <img> of the page's article with the caption of its <figure>, if any."""

    def __init__(self):
        super().__init__()
        self.images, self.stack, self.caption = [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure":
            self.stack.append({"images": [], "caption": ""})
        elif tag == "figcaption" and self.stack:
            self.caption = self.stack[-1]
        elif tag == "img":
            image = {"alt": attrs.get("alt") or "", "src": attrs.get("src", ""), "caption": None}
            self.images.append(image)
            if self.stack:
                self.stack[-1]["images"].append(image)

    def handle_endtag(self, tag):
        if tag == "figcaption":
            self.caption = None
        elif tag == "figure" and self.stack:
            figure = self.stack.pop()
            for image in figure["images"]:
                image["caption"] = re.sub(r"\s+", " ", figure["caption"]).strip()

    def handle_data(self, data):
        if self.caption is not None:
            self.caption["caption"] += data


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_every_figure_is_numbered_captioned_and_described(chapter):
    page = HTML / f"{chapter}.html"
    if not page.is_file():
        pytest.fail(f"no built book in {HTML}: run `make book` first (or set BOOK_HTML)")
    parser = Figures()
    parser.feed(page.read_text(encoding="utf8"))
    images = [i for i in parser.images if "_images/" in i["src"]]  # outputs, not logos
    assert images, f"{chapter}: no figure at all"
    number = CHAPTERS.index(chapter) + 1  # the book numbers chapters by their place in the toc
    for image in images:
        where = f"{chapter}: image {image['src']}"
        assert image["caption"], f"{where} is not in a captioned figure"
        assert re.match(rf"Figure {number}\.\d+ ", image["caption"]), (
            f"{where}: caption {image['caption'][:60]!r} is not numbered 'Figure {number}.n'"
        )
        alt = image["alt"].strip()
        assert len(alt) >= 40 and not PATH_LIKE.search(alt), f"{where}: alt text {alt!r}"
