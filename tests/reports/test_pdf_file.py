"""The PDF file around the field sheet's pages: objects, cross-references, fonts."""
from __future__ import annotations

import re
import zlib

import pytest

from reports.pdf_file import PdfFile, font_objects, text_string


def test_every_cross_reference_points_at_its_object_and_streams_inflate() -> None:
    pdf = PdfFile()
    later = pdf.reserve()
    stream = pdf.add_stream("/Type /XObject /Subtype /Form /BBox [0 0 1 1]", b"0 0 m 1 1 l S")
    pdf.put(later, f"<< /Type /Catalog /Pages {stream} 0 R >>")
    data = pdf.finish(later)
    assert data.startswith(b"%PDF-1.4\n") and data.endswith(b"%%EOF\n")
    xref = int(re.search(rb"startxref\n(\d+)\n", data).group(1))
    assert data[xref:xref + 5] == b"xref\n"
    offsets = [int(m) for m in re.findall(rb"(\d{10}) 00000 n ", data[xref:])]
    assert len(offsets) == 2
    for number, offset in enumerate(offsets, start=1):
        assert data[offset:].startswith(b"%d 0 obj\n" % number)
    body = re.search(rb"/Length (\d+) >>\nstream\n", data)
    start = body.end()
    assert zlib.decompress(data[start:start + int(body.group(1))]) == b"0 0 m 1 1 l S"
    assert pdf.finish(later) == data  # no date, no randomness


def test_an_object_reserved_and_never_written_is_an_error() -> None:
    pdf = PdfFile()
    pdf.reserve()
    root = pdf.add("<< /Type /Catalog >>")
    with pytest.raises(ValueError, match=r"objects \[1\]"):
        pdf.finish(root)


def test_fonts_are_reportlabs_dictionaries_without_names() -> None:
    from reports.field_sheet import _register_fonts

    _register_fonts()  # as a sheet does first
    latin, cjk = font_objects("Helvetica", "STSong-Light")
    assert b"/BaseFont /Helvetica" in latin and b"/WinAnsiEncoding" in latin and b"/Name" not in latin
    assert b"/Subtype /Type0" in cjk and b"/Encoding /UniGB-UCS2-H" in cjk and b"/W [" in cjk
    assert b"/Name" not in cjk
    assert text_string("外业 A") == "<FEFF59164E1A00200041>"
