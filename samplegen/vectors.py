"""The vector layers of the sample: farmland (EPSG:4490), basic farmland (a UTF-8 Shapefile in
EPSG:4551) and approved land (EPSG:4551), written so that regeneration is byte-identical."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import geopandas as gpd
import numpy as np
import pyogrio

from samplegen.frame import GEOGRAPHIC_CRS, PROJECTED_CRS
from samplegen.landscape import DLBM
from samplegen.layout import APPROVED_FILE, BASIC_FILE, FARMLAND_FILE

if TYPE_CHECKING:
    from samplegen.landscape import Landscape
    from samplegen.patches import Approval

__all__ = ["SAMPLE_TIMESTAMP", "write_layer", "write_vectors"]

#: the GeoPackage timestamps and the .dbf last-update date of every written layer
SAMPLE_TIMESTAMP = "2025-12-31T00:00:00.000Z"


def write_layer(gdf: gpd.GeoDataFrame, path: Path, layer: str | None, *,
                add: bool = False) -> None:
    """Write one layer to a fresh file (a Shapefile with its .cpg when ``layer`` is None).

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
    path : Path
        Any older file of the same stem (GeoPackage or Shapefile parts) is removed first.
    layer : str or None
        GeoPackage layer name; None writes a UTF-8 Shapefile.
    add : bool, optional
        Add the layer to the GeoPackage just written instead (keep the file).
    """
    for old in path.parent.glob(path.stem + ".*"):
        if not add and old.suffix in (".gpkg", ".shp", ".shx", ".dbf", ".prj", ".cpg"):
            old.unlink()
    if layer is None:
        # The .dbf header holds a last-update date (today, by default): pin it too.
        gdf.to_file(path, driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8",
                    layer_options={"DBF_DATE_LAST_UPDATE": SAMPLE_TIMESTAMP[:10]})
        return
    # A fixed GeoPackage timestamp keeps regenerated files byte-identical.
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": SAMPLE_TIMESTAMP})
    try:
        # GeoPackage 1.2, as landcheck writes its own: Debian-stable GDAL (QGIS 3.22) warns that 1.4
        # "may only be partially supported" (the dataset option applies when the file is created)
        gdf.to_file(path, layer=layer, driver="GPKG", engine="pyogrio",
                    **({} if add else {"dataset_options": {"VERSION": "1.2"}}))
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


def write_vectors(out_dir: Path, landscape: Landscape, approvals: Sequence[Approval]
                  ) -> dict[str, str]:
    """Write the farmland, basic-farmland and approval layers.

    Parameters
    ----------
    out_dir : Path
        The sample folder.
    landscape : Landscape
    approvals : sequence of Approval

    Returns
    -------
    dict
        ``farmland``, ``basic_farmland``, ``approved``: the written paths.
    """
    parcels = landscape.parcels
    farmland = gpd.GeoDataFrame(
        {"BSM": np.arange(1, len(parcels) + 1, dtype=np.int32),
         "DLBM": [p.dlbm for p in parcels], "DLMC": [DLBM[p.dlbm] for p in parcels],
         "TBMJ": [round(p.geometry.area, 2) for p in parcels]},
        geometry=[p.geometry for p in parcels], crs=PROJECTED_CRS).to_crs(GEOGRAPHIC_CRS)
    basic_parcels = [p for p in parcels if p.basic]
    basic = gpd.GeoDataFrame(
        {"JBNTBH": [f"JBNT{k:05d}" for k in range(1, len(basic_parcels) + 1)],
         "DLBM": [p.dlbm for p in basic_parcels]},
        geometry=[p.geometry for p in basic_parcels], crs=PROJECTED_CRS)
    approved = gpd.GeoDataFrame(
        {"PZWH": [a.number for a in approvals], "PZLX": [a.kind for a in approvals],
         "PZRQ": [a.date for a in approvals],
         "PZMJ": [round(a.geometry.area, 2) for a in approvals]},
        geometry=[a.geometry for a in approvals], crs=PROJECTED_CRS)
    write_layer(farmland, out_dir / FARMLAND_FILE, "farmland")
    write_layer(basic, out_dir / BASIC_FILE, None)
    write_layer(approved, out_dir / APPROVED_FILE, "approved")
    return {"farmland": str(out_dir / FARMLAND_FILE), "basic_farmland": str(out_dir / BASIC_FILE),
            "approved": str(out_dir / APPROVED_FILE)}
