"""samplegen: the deterministic, seeded sample world for landcheck (a development tool).

It lives beside the installed packages, not in them: ``pip install`` of landcheck does not ship
it, and the production ``landcheck`` command does not generate fake worlds. Run it from the
repository root::

    python -m samplegen data/sample_tiles --config-dir configs   # = make sample

:func:`make_sample` places a synthetic landscape on the real boundaries of Jilin city's four
urban districts (220202 昌邑区, 220203 龙潭区, 220204 船营区, 220211 丰满区), plants new
construction of six materials in it (red clay tile, blue and white steel, grey concrete, dark
asphalt, bare earthworks) together with the false changes real pairs have (harvest and
ploughing, plastic greenhouses, a changed water level, a shifted date, a different sun), and
writes everything a run reads:

* two dates of 4-band (blue, green, red, NIR) uint16 surface-reflectance x 10000 GeoTIFF tiles
  in EPSG:4551 (CGCS2000 / 3-degree Gauss-Krüger CM 126E), 2 m pixels, overlapping tiles cut
  differently per date, slanted nodata scan edges, a soft-edged cloud in the later date and its
  uint8 masks;
* the vector layers: counties (EPSG:4490), farmland parcels (EPSG:4490), basic farmland
  (Shapefile, EPSG:4551) and approved land (EPSG:4551);
* the ground truth: the planted construction (kind ``construction``) and the false changes
  (kind ``false_change``), and per patch / per county areas and ratios of the construction
  only, computed with plain shapely from the design geometries;
* with ``--config-dir`` (``make sample``), :mod:`samplegen.verdicts` also writes the returned
  field verdicts of the current detector's patches, a key project and their expected decisive
  ratios (``verdicts/``, ``vectors/key_projects.gpkg``, ``truth/verified_*.csv``).

The sample tests plumbing, not quality: it makes every path of a run and every kind of change
visible, it is not a benchmark.

The world is designed as vectors in EPSG:4551 on the 2 m pixel grid, then rasterised. Every
random choice comes from one ``numpy.random.default_rng(seed)``, and every written file is
byte-identical for a seed (GeoPackage and .dbf dates are pinned). ``scale`` multiplies the
window's sides, the tile count and the planted patches; ``scale=1`` is the committed sample in
``data/sample_tiles``.

:func:`write_sample_configs` writes the two run configs that point at a generated sample.

Modules, one job each: :mod:`~samplegen.layout` (file layout), :mod:`~samplegen.frame` (place,
dates, grid), :mod:`~samplegen.counties` (real boundaries), :mod:`~samplegen.sun` (roof
shading, shadows), :mod:`~samplegen.features` (painted polygons, buildings),
:mod:`~samplegen.landscape` (land cover vectors), :mod:`~samplegen.scene` (footprints, cloud),
:mod:`~samplegen.patches` (planted construction, approvals), :mod:`~samplegen.false_changes`,
:mod:`~samplegen.spectra` (DN synthesis), :mod:`~samplegen.raster` (tiles, masks, the shifted
date), :mod:`~samplegen.vectors` (layers), :mod:`~samplegen.truth`, :mod:`~samplegen.readme`,
:mod:`~samplegen.configs`, :mod:`~samplegen.world` (the whole world).
"""
from __future__ import annotations

from samplegen.configs import write_sample_configs
from samplegen.world import make_sample

__all__ = ["make_sample", "write_sample_configs"]
