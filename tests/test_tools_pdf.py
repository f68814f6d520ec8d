"""tools/pdf.py without a browser: names, the root page, and the outline it appends to a PDF.

The printing itself needs the built books and Chromium: tests/test_pdf.py (browser step)."""

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject

from tools import pdf


def test_the_pdfs_are_named_after_the_title(tmp_path):
    (tmp_path / "_config.yml").write_text("title: Where does LayerNorm normalize?\n")
    found = pdf.editions(tmp_path)
    assert found["book"] == (
        tmp_path / "_build" / "html",
        tmp_path / "_build" / "pdf" / "where-does-layernorm-normalize.pdf",
    )
    assert found["student"][1].name == "where-does-layernorm-normalize-student.pdf"


def test_root_page_is_where_the_index_sends_a_reader(tmp_path):
    (tmp_path / "index.html").write_text(
        '<meta http-equiv="Refresh" content="0; url=book/intro.html" />'
    )
    assert pdf.root_page(tmp_path) == "book/intro.html"


def test_root_page_of_an_unbuilt_book_says_what_to_do(tmp_path):
    with pytest.raises(pdf.PdfError) as err:
        pdf.root_page(tmp_path)
    assert str(err.value) == (
        f"no built book in {tmp_path} (no index.html): build it first (make book)"
    )


def chromium_like(path, names):
    """A PDF of one blank sheet per name, with a named destination (catalog /Dests, as
    Chromium writes them) at the top of each."""
    writer = PdfWriter()
    dests = DictionaryObject()
    for name in names:
        sheet = writer.add_blank_page(595, 842)
        dests[NameObject(f"/{name}")] = ArrayObject(
            [sheet.indirect_reference, NameObject("/XYZ"), NumberObject(0), NumberObject(842)]
            + [NumberObject(0)]
        )
    writer._root_object[NameObject("/Dests")] = writer._add_object(dests)
    writer.write(path)
    return path


PRINTED = [
    {"title": "Where does it normalize?", "anchor": "p-intro", "sections": []},
    {
        "title": "1. NLP, [N, T, D]: one mean per token",
        "anchor": "p-nlp",
        "sections": [
            {"title": "1.1. The puzzle", "anchor": "p-nlp--puzzle"},
            {"title": "1.2. Summary", "anchor": "p-nlp--summary"},
        ],
    },
    {"title": "Glossary – “terms”", "anchor": "p-glossary", "sections": []},
]


def test_the_outline_is_appended_as_an_update(tmp_path):
    names = ["p-intro", "p-nlp", "p-nlp--puzzle", "p-nlp--summary", "p-glossary"]
    path = chromium_like(tmp_path / "book.pdf", names)
    before = path.read_bytes()
    assert pdf.add_outline(path, PRINTED) == len(names)
    assert path.read_bytes().startswith(before), "an update appends; it never rewrites"
    reader = PdfReader(path, strict=True)
    top = reader.outline
    assert [item.title for item in top if not isinstance(item, list)] == [
        page["title"] for page in PRINTED
    ]
    assert [item.title for item in top[2]] == ["1.1. The puzzle", "1.2. Summary"]
    pages = [reader.get_destination_page_number(item) for item in (top[0], top[1], *top[2])]
    assert pages == [0, 1, 2, 3]
    assert reader.page_mode == "/UseOutlines"
    assert len(reader.pages) == len(names)


def test_a_missing_destination_is_an_error(tmp_path):
    path = chromium_like(tmp_path / "book.pdf", ["p-intro", "p-nlp"])
    with pytest.raises(pdf.PdfError) as err:
        pdf.add_outline(path, PRINTED)
    assert str(err.value) == (
        f"{path}: Chromium wrote no destination for ['p-nlp--puzzle', 'p-nlp--summary', "
        f"'p-glossary'] (3 in all), so the outline cannot point at them; are they linked from "
        f"the contents?"
    )
