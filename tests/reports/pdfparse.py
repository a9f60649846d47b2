"""A tiny PDF reader for the tests (no dependency): page count, text, images.

Enough for the PDFs of reportlab and matplotlib: plain objects, Flate-compressed
streams, and three kinds of font, decoded the way a PDF reader's search does:

- a font with a ``/ToUnicode`` CMap (matplotlib's Type 3 fonts): one-byte codes mapped by it;
- a composite (Type 0) font with a predefined ``...-UCS2-H`` encoding (reportlab's
  ``STSong-Light``): two-byte codes that are the UTF-16 code units;
- a simple font with ``/WinAnsiEncoding`` (reportlab's Helvetica): cp1252.

Text is read operator by operator (``/Fn size Tf``, ``[...] TJ``, ``(...) Tj``),
each string decoded with the current font.
"""
from __future__ import annotations

import re
import zlib

_STREAM = re.compile(rb"stream\r?\n(.*?)(?:\r?\n)?endstream", re.S)  # reportlab: no EOL before endstream
_STRING = re.compile(rb"\(((?:\\.|[^\\)])*)\)", re.S)


def streams(pdf: bytes) -> list[bytes]:
    """Every stream of the file, inflated where it is Flate-compressed."""
    out = []
    for m in _STREAM.finditer(pdf):
        raw = m.group(1)
        try:
            out.append(zlib.decompress(raw))
        except zlib.error:
            out.append(raw)
    return out


_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _unescape(s: bytes) -> bytes:
    """A PDF literal string's bytes: backslash escapes, octal ones (``\\ddd``) included."""
    def one(m: re.Match) -> bytes:
        if m.group(1):
            return bytes([int(m.group(1), 8) & 0xFF])
        return _ESCAPES.get(m.group(2), m.group(2))

    return re.sub(rb"\\(?:([0-7]{1,3})|(.))", one, s, flags=re.S)


_OBJ = re.compile(rb"(\d+) 0 obj\s*(.*?)endobj", re.S)
_OPS = re.compile(rb"/(F\d+)\s+[-\d.]+\s+Tf|\[(.*?)\]\s*TJ|\(((?:\\.|[^\\)])*)\)\s*Tj", re.S)


def _objects(pdf: bytes) -> dict[int, bytes]:
    return {int(m.group(1)): m.group(2) for m in _OBJ.finditer(pdf)}


def _inflate(body: bytes) -> bytes:
    m = _STREAM.search(body)
    if m is None:
        return b""
    try:
        return zlib.decompress(m.group(1))
    except zlib.error:
        return m.group(1)


def _cmap(text: bytes) -> dict[int, str]:
    """Code -> characters of a ToUnicode CMap (bfchar and both bfrange forms)."""
    def chars(hexes: bytes) -> str:
        return bytes.fromhex(hexes.decode()).decode("utf-16-be")

    out: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", text, re.S):
        for src, dst in re.findall(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
            out[int(src, 16)] = chars(dst)
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", text, re.S):
        for lo, hi, rest in re.findall(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*(\[[^\]]*\]|<[0-9a-fA-F]+>)", block):
            lo_i, hi_i = int(lo, 16), int(hi, 16)
            if rest.startswith(b"["):
                for k, dst in enumerate(re.findall(rb"<([0-9a-fA-F]+)>", rest)):
                    out[lo_i + k] = chars(dst)
            else:
                start = int(rest.strip(b"<>"), 16)
                for k in range(hi_i - lo_i + 1):
                    out[lo_i + k] = chr(start + k)
    return out


def _decoder(body: bytes, objs: dict[int, bytes]):
    """How a font's string bytes become text, or None when the test reader cannot tell."""
    m = re.search(rb"/ToUnicode\s+(\d+) 0 R", body)
    if m:
        cmap = _cmap(_inflate(objs[int(m.group(1))]))
        return lambda raw: "".join(cmap.get(b, chr(b)) for b in raw)
    if re.search(rb"/Encoding\s*/Uni\w*-UCS2-H\b", body):
        return lambda raw: raw.decode("utf-16-be", errors="replace")
    if re.search(rb"/Encoding\s*/WinAnsiEncoding\b", body):
        return lambda raw: raw.decode("cp1252", errors="replace")
    return None


def text_runs(pdf: bytes) -> list[str]:
    """The text drawn by each text operator, decoded as a PDF reader's search does (module docstring)."""
    objs = _objects(pdf)
    decoders = {}
    for num, body in objs.items():
        if b"/Type /Font" in body:
            decoder = _decoder(body, objs)
            if decoder is not None:
                decoders[num] = decoder
    by_name = {}
    for body in objs.values():
        for name, num in re.findall(rb"/(F\d+)\s+(\d+) 0 R", body):
            if int(num) in decoders:
                by_name[name] = decoders[int(num)]
    latin1 = lambda raw: "".join(chr(b) for b in raw)  # noqa: E731 - an unknown font
    runs = []
    for body in objs.values():
        content = _inflate(body)
        if b" Tf" not in content:
            continue
        decode = latin1
        for m in _OPS.finditer(content):
            if m.group(1) is not None:
                decode = by_name.get(m.group(1), latin1)
                continue
            strings = _STRING.findall(m.group(2)) if m.group(2) is not None else [m.group(3)]
            raw = b"".join(_unescape(x) for x in strings)
            runs.append(decode(raw))
    return runs


def page_count(pdf: bytes) -> int:
    """``/Count`` of the page tree root (the largest ``/Count``)."""
    counts = [int(c) for c in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", pdf, re.S)]
    counts += [int(c) for c in re.findall(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", pdf, re.S)]
    return max(counts)


def n_images(pdf: bytes) -> int:
    """Number of image XObjects in the file."""
    return len(re.findall(rb"/Subtype\s*/Image\b", pdf))
