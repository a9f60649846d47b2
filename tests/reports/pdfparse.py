"""A tiny PDF reader for the tests (no dependency): page count, text, images.

Enough for matplotlib's PDFs: plain objects, Flate-compressed streams, Type 3
fonts whose one-byte codes a ``/ToUnicode`` CMap maps back to characters (what a
PDF reader's search uses). Text is read operator by operator (``/Fn size Tf``,
``[...] TJ``, ``(...) Tj``), each code decoded with the current font's map.
"""
from __future__ import annotations

import re
import zlib

_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
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


def _unescape(s: bytes) -> bytes:
    return re.sub(rb"\\(.)", lambda m: {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(m.group(1), m.group(1)), s)


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


def text_runs(pdf: bytes) -> list[str]:
    """The text drawn by each text operator, decoded with the fonts' ToUnicode maps."""
    objs = _objects(pdf)
    font_maps: dict[int, dict[int, str]] = {}
    for num, body in objs.items():
        m = re.search(rb"/ToUnicode\s+(\d+) 0 R", body)
        if b"/Type /Font" in body and m:
            font_maps[num] = _cmap(_inflate(objs[int(m.group(1))]))
    by_name: dict[bytes, dict[int, str]] = {}
    for body in objs.values():
        for name, num in re.findall(rb"/(F\d+)\s+(\d+) 0 R", body):
            if int(num) in font_maps:
                by_name[name] = font_maps[int(num)]
    runs = []
    for body in objs.values():
        content = _inflate(body)
        if b" Tf" not in content:
            continue
        cmap: dict[int, str] = {}
        for m in _OPS.finditer(content):
            if m.group(1) is not None:
                cmap = by_name.get(m.group(1), {})
                continue
            strings = _STRING.findall(m.group(2)) if m.group(2) is not None else [m.group(3)]
            raw = b"".join(_unescape(x) for x in strings)
            runs.append("".join(cmap.get(b, chr(b)) for b in raw))
    return runs


def page_count(pdf: bytes) -> int:
    """``/Count`` of the page tree root (the largest ``/Count``)."""
    counts = [int(c) for c in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", pdf, re.S)]
    counts += [int(c) for c in re.findall(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", pdf, re.S)]
    return max(counts)


def n_images(pdf: bytes) -> int:
    """Number of image XObjects in the file."""
    return len(re.findall(rb"/Subtype\s*/Image\b", pdf))
