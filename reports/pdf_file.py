"""A PDF file assembled from numbered objects: the document structure of the field sheets.

The field sheet (:mod:`reports.field_sheet`) writes its page contents as PDF operators itself;
what it needs besides is the file around them: pages, their content streams, form and image
XObjects, two fonts, the catalog, the cross-reference table. reportlab's document classes
format every dictionary, name and number of that structure in Python on each page (about 0.2 ms
a page, more than compressing the page); here every page's dictionary is one formatted string.
The fonts' dictionaries are reportlab's own (:func:`font_objects`): the metrics its widths come
from are the ones the file names.

The file is PDF 1.4 (ISO 32000-1 is its superset): header with a binary comment, ``n 0 obj ...
endobj`` objects, Flate-compressed streams, a classic ``xref`` table, a trailer with a document
id derived from the content (the same input gives the same bytes: no dates).
"""
from __future__ import annotations

import functools
import hashlib
import io
import re
import zlib

__all__ = ["PdfFile", "font_objects", "text_string"]


class PdfFile:
    """Objects numbered from 1 in the order they are reserved; bytes assembled by :meth:`finish`."""

    def __init__(self) -> None:
        self._bodies: list[bytes | None] = []

    def reserve(self) -> int:
        """A new object number, its body given later with :meth:`put`."""
        self._bodies.append(None)
        return len(self._bodies)

    def put(self, number: int, body: bytes | str) -> None:
        """The body of object ``number`` (the text between ``n 0 obj`` and ``endobj``)."""
        self._bodies[number - 1] = body.encode("latin-1") if isinstance(body, str) else body

    def add(self, body: bytes | str) -> int:
        """A new object with ``body``; its number."""
        number = self.reserve()
        self.put(number, body)
        return number

    def add_stream(self, entries: str, data: bytes) -> int:
        """A new Flate-compressed stream object; ``entries``: its dictionary's other entries."""
        packed = zlib.compress(data)
        return self.add(b"<< " + entries.encode("latin-1") + b" /Filter /FlateDecode /Length "
                        + str(len(packed)).encode("ascii") + b" >>\nstream\n" + packed + b"\nendstream")

    def finish(self, root: int, info: int | None = None) -> bytes:
        """The whole file: header, objects, cross-reference table and trailer."""
        missing = [i + 1 for i, body in enumerate(self._bodies) if body is None]
        if missing:
            raise ValueError(f"PDF objects {missing} were reserved and never written")
        out = io.BytesIO()
        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(self._bodies, start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number)
            out.write(body)
            out.write(b"\nendobj\n")
        xref = out.tell()
        digest = hashlib.md5(out.getvalue(), usedforsecurity=False).hexdigest().encode("ascii")
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(self._bodies) + 1))
        out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
        info_entry = b" /Info %d 0 R" % info if info is not None else b""
        out.write(b"trailer\n<< /Size %d /Root %d 0 R%s /ID [<%s><%s>] >>\nstartxref\n%d\n%%%%EOF\n"
                  % (len(self._bodies) + 1, root, info_entry, digest, digest, xref))
        return out.getvalue()


def text_string(text: str) -> str:
    """A PDF text string (document information): UTF-16BE with its byte order mark, in hex."""
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


_OBJECT = re.compile(rb"(\d+) 0 obj\n(.*?)\nendobj", re.S)


@functools.cache
def font_objects(latin_font: str, cjk_font: str) -> tuple[bytes, bytes]:
    """The font dictionaries reportlab writes for ``latin_font`` (a standard Type 1 font,
    WinAnsi) and ``cjk_font`` (a registered CID font; its widths inline), without their
    ``/Name`` entries; formatted by reportlab once per process."""
    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    canvas = Canvas(buf, invariant=1, pageCompression=0)
    canvas.setFont(latin_font, 10)
    canvas.drawString(0, 0, "a")
    canvas.setFont(cjk_font, 10)
    canvas.drawString(0, 10, "\u4e2d")
    canvas.save()
    bodies = {}
    for m in _OBJECT.finditer(buf.getvalue()):
        body = m.group(2)
        for name in (latin_font, cjk_font):
            if re.match(rb"<<\s*/BaseFont /" + re.escape(name.encode("ascii")) + rb"\b", body) \
                    and b"/Type /Font" in body:
                bodies[name] = re.sub(rb" /Name /F\d+", b"", body)
    if set(bodies) != {latin_font, cjk_font}:
        raise RuntimeError(f"reportlab wrote no font dictionary for {sorted({latin_font, cjk_font} - set(bodies))}")
    return bodies[latin_font], bodies[cjk_font]
