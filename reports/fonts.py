"""Find a font that has Chinese glyphs, for the ratio chart.

Matplotlib's default font (DejaVu Sans) has no CJK glyphs: Chinese county names
would render as empty boxes ("tofu"). This module looks for a CJK font at render
time, in this order:

1. the file named by the environment variable ``LANDCHECK_CJK_FONT``;
2. Noto Sans SC shipped by the PyPI package ``pylopdf-fonts-zh-cn``
   (a data-only wheel, SIL Open Font License; the project's install pulls it in);
3. known files of Debian font packages (``fonts-noto-cjk``, ``fonts-wqy-microhei``,
   ``fonts-wqy-zenhei``) and the fonts matplotlib's font manager knows by family.

The chart checks every string it draws against the font's character map, so a
name whose characters the font lacks is never drawn as tofu.
"""
from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from matplotlib import font_manager
from matplotlib.ft2font import FT2Font

__all__ = ["CjkFont", "find_cjk_font", "font_covers", "FONT_ENV_VAR"]

log = logging.getLogger(__name__)

FONT_ENV_VAR = "LANDCHECK_CJK_FONT"
"""Environment variable naming a CJK font file to use instead of the search."""

_SYSTEM_FILES: tuple[str, ...] = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)

_FAMILIES: tuple[str, ...] = (
    "Noto Sans SC",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Noto Sans CJK JP",
)

_PROBE = "县级违法占用耕地比例"


@dataclass(frozen=True)
class CjkFont:
    """A font file with Chinese glyphs, registered with matplotlib.

    Attributes
    ----------
    path : pathlib.Path
        The font file.
    family : str
        Its family name, usable in ``rcParams['font.family']``.
    charmap : frozenset of int
        The code points it has glyphs for.
    """

    path: Path
    family: str
    charmap: frozenset[int]

    def covers(self, text: str) -> bool:
        """True when the font has a glyph for every character of ``text``."""
        return font_covers(self.charmap, text)


def font_covers(charmap: Iterable[int] | frozenset[int], text: str) -> bool:
    """True when every non-space character of ``text`` is in ``charmap``.

    Parameters
    ----------
    charmap : iterable of int
        Code points of a font.
    text : str
        The text to draw.

    Returns
    -------
    bool
    """
    cmap = charmap if isinstance(charmap, frozenset) else frozenset(charmap)
    return all(ord(ch) in cmap for ch in text if not ch.isspace())


def _candidates() -> list[Path]:
    paths: list[Path] = []
    env = os.environ.get(FONT_ENV_VAR)
    if env:
        paths.append(Path(env))
    try:
        import pylopdf_fonts_zh_cn  # type: ignore[import-not-found]

        paths.append(Path(pylopdf_fonts_zh_cn.sans_path()))
    except ImportError:
        pass
    paths.extend(Path(p) for p in _SYSTEM_FILES)
    for family in _FAMILIES:
        for entry in font_manager.fontManager.ttflist:
            if entry.name == family:
                paths.append(Path(entry.fname))
    return paths


def _load(path: Path) -> CjkFont | None:
    if not path.is_file():
        return None
    try:
        ft = FT2Font(str(path))
        charmap = frozenset(ft.get_charmap())
    except (OSError, RuntimeError, ValueError) as exc:
        log.debug("cannot read font %s: %s", path, exc)
        return None
    if not font_covers(charmap, _PROBE):
        return None
    font_manager.fontManager.addfont(str(path))
    family = font_manager.FontProperties(fname=str(path)).get_name()
    return CjkFont(path=path, family=family, charmap=charmap)


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> CjkFont | None:
    """Find and register a font with Chinese glyphs, or return None.

    The result is cached for the process. When none is found a warning is logged
    once; callers then label counties by code instead of name.

    Returns
    -------
    CjkFont or None
        The first usable font of the search order in the module docstring.
    """
    seen: set[Path] = set()
    for path in _candidates():
        if path in seen:
            continue
        seen.add(path)
        font = _load(path)
        if font is not None:
            log.debug("CJK font for charts: %s (%s)", font.path, font.family)
            return font
    log.warning(
        "no CJK font found (install the Python package pylopdf-fonts-zh-cn, the Debian package "
        "fonts-noto-cjk, or set %s to a font file): charts label counties by code and use English text",
        FONT_ENV_VAR,
    )
    return None
