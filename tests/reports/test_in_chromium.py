"""report.html in the real client: headless Chromium at desktop and phone widths.

Screenshots at 1280 x 900 and 390 x 844 must show a page (not blank), and at both widths nothing may
be wider than the viewport (``scrollWidth <= innerWidth``): wide tables scroll inside their own box.
"""
from __future__ import annotations

import html
import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from reports.charts import render_ratio_chart
from reports.html_report import write_html_report
from reports.report_map import render_report_map
from tests.reports.clients import chromium

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}

_PROBE = """
<script>
window.addEventListener('load', () => {
  const doc = document.documentElement;
  const wide = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
      && !e.closest('.scroll')).map(e => e.tagName + '.' + e.className).slice(0, 5);
  const tables = [...document.querySelectorAll('.scroll')].map(e => e.scrollWidth > e.clientWidth ? 1 : 0);
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({scroll: doc.scrollWidth, inner: window.innerWidth, wide: wide,
                                    scrolling: tables.reduce((a, b) => a + b, 0), images: document.images.length,
                                    loaded: [...document.images].filter(i => i.naturalWidth > 0).length});
  window.parent.document.body.appendChild(out);  // the report itself, or the page framing it
});
</script>
"""


_MIN_WINDOW = 500  # headless Chromium lays a page out at least this wide, whatever --window-size says


def _framed(page: Path, html_text: str, width: int, height: int) -> tuple[str, int]:
    """The URI to load and the window width: a page narrower than Chromium's minimum window is framed
    in an ``<iframe>`` of exactly that size (``srcdoc``: same origin, so the probe can report)."""
    if width >= _MIN_WINDOW:
        page.write_text(html_text, encoding="utf-8")
        return page.as_uri(), width
    frame = page.with_name(page.stem + "_framed.html")
    frame.write_text('<!DOCTYPE html><html><body style="margin:0">'
                     f'<iframe style="border:0;width:{width}px;height:{height}px;display:block" '
                     f'srcdoc="{html.escape(html_text, quote=True)}"></iframe></body></html>', encoding="utf-8")
    return frame.as_uri(), _MIN_WINDOW


def screenshot(report: Path, width: int, height: int, out: Path, tmp: Path) -> Image.Image:
    """A screenshot of ``report`` laid out ``width`` px wide, as a PIL image of ``width`` x ``height``."""
    uri, window = _framed(tmp / "shot.html", report.read_text(encoding="utf-8"), width, height)
    proc = _run([f"--screenshot={out}", f"--window-size={window},{height}", "--virtual-time-budget=3000", uri],
                tmp)
    assert out.is_file(), proc.stderr[-2000:]
    image = Image.open(io.BytesIO(out.read_bytes())).convert("RGB").crop((0, 0, width, height))
    image.save(out)
    return image


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--user-data-dir={tmp / 'chromium-profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def report(tmp_path: Path, ratios: pd.DataFrame, pieces: gpd.GeoDataFrame, county_polygons: gpd.GeoDataFrame,
           run_info: dict[str, Any]) -> Path:
    info = dict(run_info, config="/a/very/long/path/without/any/break/" + "x" * 120 + "/run.yaml")
    chart = render_ratio_chart(ratios, info, tmp_path / "chart.png")
    mapping = render_report_map(ratios, county_polygons, pieces, info, tmp_path / "map.png")
    return write_html_report(ratios, info, chart, tmp_path / "report.html", map_png=mapping, pieces=pieces)


@pytest.mark.parametrize("width", list(WIDTHS))
def test_screenshot_is_not_blank(tmp_path: Path, report: Path, width: str) -> None:
    w, h = WIDTHS[width]
    image = np.asarray(screenshot(report, w, h, tmp_path / f"{width}.png", tmp_path).convert("L"), dtype=float)
    assert image.shape == (h, w)
    assert image.std() > 20  # text, tables and figures, not an empty page
    assert (image < 100).mean() > 0.005  # dark text is drawn


@pytest.mark.parametrize("width", list(WIDTHS))
def test_nothing_overflows_the_viewport(tmp_path: Path, report: Path, width: str) -> None:
    w, h = WIDTHS[width]
    probed = report.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>")
    uri, window = _framed(tmp_path / "probed.html", probed, w, h)
    proc = _run(["--virtual-time-budget=3000", "--run-all-compositor-stages-before-draw",
                 f"--window-size={window},{h}", "--dump-dom", uri], tmp_path)
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stderr[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"'))
    assert result["inner"] == w
    assert result["scroll"] <= result["inner"], result  # no sideways scrolling of the page
    assert result["wide"] == [], result
    assert result["images"] == 2 and result["loaded"] == 2  # the chart and the map
    if width == "phone":
        assert result["scrolling"] >= 1  # the ranking scrolls inside its box instead
