"""The data contracts every stage and renderer shares: columns, vocabularies, field names, JCBH.

One home for what the stages hand each other and what the deliverables call
things, so that the overlay, the accounting, the pipeline and every report say
the same thing (docs/architecture.md, ../shared/domain.md "Patches and verdicts"):

- the columns of the patches, the patch pieces and the county ratios;
- the vocabularies (levels, threshold rules, piece statuses, patch origins,
  field verdicts PDLX, rectification states ZGZT) with their Chinese labels;
- the Shapefile field names of the field-verification packages, with their
  Chinese aliases and meanings;
- the monitoring number (JCBH) rule: :func:`location_code`, :func:`make_jcbh` (and their
  versions over many patches, :func:`location_codes`, :func:`make_jcbhs`).

Pure data and tiny helpers: no I/O, no imports of landcheck or of third-party
packages, so ``reports/`` can import it without depending on the overlay.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Sequence

__all__ = [
    # tables
    "PATCH_COLUMNS", "MEASURE_COLUMNS", "PIECE_COLUMNS", "RUN_PIECE_COLUMNS", "PIECE_KEY",
    "COUNTY_COLUMNS", "COUNTY_LEADING_COLUMNS",
    # levels and rules
    "Level", "LEVEL_TABLE", "LEVELS", "LEVEL_FAILED", "LEVEL_LABELS_ZH", "LEVEL_LABELS_EN", "LEVEL_COLOURS", "LEVEL_FILLS",
    "RULES", "RULE_SYMBOLS", "RULE_WORDS_ZH", "rule_symbol", "rule_words_zh", "rule_words_en",
    # pieces
    "STATUSES", "STATUS_LABELS_ZH", "ORIGINS", "ORIGIN_LABELS_ZH",
    # patch type (TBLX)
    "PatchType", "PATCH_TYPES", "PATCH_TYPE_BY_CODE", "PATCH_TYPE_NEW_CONSTRUCTION",
    # field-verification packages
    "PHOTO_SEPARATOR", "PackageEncoding", "PACKAGE_ENCODINGS", "PACKAGE_ENCODING_BY_NAME",
    # field verification
    "Verdict", "EFFECT_ILLEGAL", "EFFECT_LEGAL", "EFFECT_NOT_CONSTRUCTION", "EFFECT_UNVERIFIED",
    "EFFECTS", "VERDICTS", "VERDICTS_ZH", "VERDICT_BY_CODE", "VERDICT_BY_LABEL", "verdict_of",
    "Rectification", "RECTIFICATIONS", "RECTIFICATIONS_ZH", "RECTIFICATION_BY_LABEL",
    "RECTIFICATION_BY_CODE", "rectification_of",
    # returned verdicts
    "VERDICT_FILE_FIELDS", "VERDICT_FILE_REQUIRED", "VERDICT_COLUMNS", "VERIFIED_COLUMNS",
    "PROGRESS_COLUMNS", "default_effects", "EFFECT_LABELS_ZH",
    # decisive (verified) county figures
    "COUNTY_VERIFIED_COLUMNS", "RUN_COUNTY_COLUMNS", "LEVEL_REASON_RATIO", "LEVEL_REASON_SEVERE_IMPACT", "LEVEL_REASON_FAILED",
    "LEVEL_REASONS", "LEVEL_REASON_LABELS_ZH", "UNRECTIFIED_COLUMNS", "KEY_PROJECT_MIN_SHARE",
    "COLUMN_LABELS_ZH",
    "ShapefileField", "SHAPEFILE_FIELDS", "FIELD_BY_NAME", "FIELD_NAME_MAX",
    # monitoring number
    "JCBH_CELL_M", "JCBH_MAX_CHARS", "location_code", "location_codes", "collision_suffix", "make_jcbh",
    "make_jcbhs",
]

# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------

PATCH_COLUMNS: Final[tuple[str, ...]] = ("source_id", "origin", "mean_score", "before_date", "after_date")
"""Attribute columns of the patches entering the overlay (``pipeline.run.load_patches``), besides
the geometry: the detected / received id, :data:`ORIGINS`, the mean change score (NaN when
received), the before / after imagery dates (QSX / HSX, ``YYYY-MM-DD`` or None)."""

MEASURE_COLUMNS: Final[tuple[str, ...]] = (
    "area_m2",
    "farmland_m2",
    "basic_farmland_m2",
    "approved_m2",
    "legal_farmland_m2",
    "illegal_farmland_m2",
    "illegal_basic_farmland_m2",
    "other_m2",
    "status",
)
"""What the overlay measures of each piece (m², in its county's zone) and its :data:`STATUSES`.
``area = farmland + other`` and ``farmland = legal + illegal`` hold by construction."""

PIECE_COLUMNS: Final[tuple[str, ...]] = ("patch_id", "source_id", "county_code", "county_name",
                                         *MEASURE_COLUMNS)
"""Columns ``overlay.split.split_patches`` guarantees, one row per piece (a patch cut by county
boundaries). ``patch_id`` IS the monitoring number JCBH (see :func:`make_jcbh`); the other
columns of the patches are carried along."""

RUN_PIECE_COLUMNS: Final[tuple[str, ...]] = (
    "patch_id", "source_id", "county_code", "county_name", "year",
    *PATCH_COLUMNS[1:],
    *MEASURE_COLUMNS,
)
"""A run's pieces, as every renderer receives them, in this order: :data:`PIECE_COLUMNS`, the
patch attributes of :data:`PATCH_COLUMNS` and the check's ``year``."""

PIECE_KEY: Final[tuple[str, str]] = ("patch_id", "county_code")
"""What identifies a piece: its patch's JCBH and its county (XZQDM). ``patch_id`` alone is unique
too, except that the pieces of a received patch straddling counties share its official JCBH."""

COUNTY_COLUMNS: Final[tuple[str, ...]] = (
    "county_code",
    "county_name",
    "occupied_farmland_m2",
    "illegal_farmland_m2",
    "ratio",
    "level",
    "rank",
    "legal_farmland_m2",
    "n_patches",
    "n_illegal_patches",
    "basic_farmland_m2",
    "illegal_basic_farmland_m2",
)
"""Columns of the county ratios (``overlay.accounting.county_ratios``), in this order: one row per
county; ``ratio`` NaN and ``level`` ``no_ratio`` when nothing was occupied; ``rank`` 1 = highest
ratio, NA without a ratio."""

COUNTY_LEADING_COLUMNS: Final[tuple[str, ...]] = COUNTY_COLUMNS[:7]
"""The first columns of ``county_ratios.csv``, promised by the README: code, name, occupied,
illegal, ratio, level, rank."""

# --------------------------------------------------------------------------------------------------
# Levels and threshold rules
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Level:
    """One county level: ``code`` (the ``level`` value), ``label_zh`` (every report), ``label_en``
    (chart fallback when no CJK font is present), ``colour`` (strong, ``#rrggbb``: chart bars, HTML
    badges) and ``fill`` (light background, ``rrggbb``: Excel cells, HTML rows)."""

    code: str
    label_zh: str
    label_en: str
    colour: str
    fill: str


LEVEL_TABLE: Final[tuple[Level, ...]] = (
    Level("accountability", "问责", "accountability", "#c8372d", "FFC7CE"),
    Level("interview", "约谈", "interview", "#e8a33d", "FFEB9C"),
    Level("none", "未达约谈比例", "below interview", "#4e9a57", "C6EFCE"),
    Level("no_ratio", "无新增占用耕地", "no ratio", "#9a9a9a", "E7E6E6"),
    Level("failed", "计算失败", "failed", "#5a5a5a", "D9D9D9"),
)
"""Every county level, most serious first (``no_ratio``: nothing occupied, no ratio, no rank;
``failed``: the county's job failed, no figures, its reason in ``failure_reason``)."""

LEVELS: Final[tuple[str, ...]] = tuple(level.code for level in LEVEL_TABLE)
"""Every value of the county ``level`` column, most serious first."""

LEVEL_FAILED: Final = "failed"
"""The ``level`` of a county whose job failed (see :data:`LEVEL_TABLE`)."""

LEVEL_LABELS_ZH: Final[dict[str, str]] = {level.code: level.label_zh for level in LEVEL_TABLE}
"""Chinese label of each level, as shown in every report."""

LEVEL_LABELS_EN: Final[dict[str, str]] = {level.code: level.label_en for level in LEVEL_TABLE}
"""English label of each level (chart fallback when no CJK font is present)."""

LEVEL_COLOURS: Final[dict[str, str]] = {level.code: level.colour for level in LEVEL_TABLE}
"""Strong colour of each level (chart bars, HTML badges), as ``#rrggbb``."""

LEVEL_FILLS: Final[dict[str, str]] = {level.code: level.fill for level in LEVEL_TABLE}
"""Light background of each level (Excel cells, HTML rows), as ``rrggbb``."""

RULES: Final[tuple[str, ...]] = ("reaches", "exceeds")
"""Threshold rules: ``reaches`` means ratio ≥ threshold (Order No. 15, the default), ``exceeds``
ratio > threshold (e.g. Jiangsu's interview rule)."""

RULE_SYMBOLS: Final[dict[str, str]] = {"reaches": "≥", "exceeds": ">"}
"""Comparison symbol of each rule."""

RULE_WORDS_ZH: Final[dict[str, str]] = {"reaches": "达到", "exceeds": "超过"}
"""Chinese verb of each rule, as the notices word it (达到15%以上, 超过10%)."""


def rule_symbol(rule: str) -> str:
    """``"≥"`` for ``reaches``, ``">"`` for ``exceeds``; ``ValueError`` for any other rule."""
    try:
        return RULE_SYMBOLS[rule]
    except (KeyError, TypeError):
        raise ValueError(f"unknown threshold rule {rule!r}: expected 'reaches' or 'exceeds'") from None


def rule_words_zh(rule: str) -> str:
    """Chinese wording of a rule: ``达到（≥）`` or ``超过（>）``."""
    symbol = rule_symbol(rule)
    return f"{RULE_WORDS_ZH[rule]}（{symbol}）"


def rule_words_en(rule: str) -> str:
    """English wording of a rule: ``reaches (≥)`` or ``exceeds (>)``."""
    return f"{rule} ({rule_symbol(rule)})"


# --------------------------------------------------------------------------------------------------
# Pieces: status and origin
# --------------------------------------------------------------------------------------------------

STATUSES: Final[tuple[str, ...]] = ("illegal", "partly_legal", "legal", "non_farmland")
"""Values of the piece ``status``: what the overlay found of the farmland the piece occupies (no
approval covers it, some does, all is covered, no farmland occupied). Not a verdict: that is PDLX."""

STATUS_LABELS_ZH: Final[dict[str, str]] = {
    "illegal": "未批占用耕地",
    "partly_legal": "部分已批占用耕地",
    "legal": "已批占用耕地",
    "non_farmland": "未占用耕地",
}
"""Chinese label of each piece ``status`` (the THJG value of the field packages; TBLX is the
patch type, :data:`PATCH_TYPES`).

The words say what the overlay found (whether approvals cover the farmland the
piece occupies), not a legal verdict: the verdict is the field team's (PDLX).
"""

ORIGINS: Final[tuple[str, ...]] = ("detected", "received")
"""Values of the patch ``origin``: detected by this run from imagery, or received (``patches:``)."""

ORIGIN_LABELS_ZH: Final[dict[str, str]] = {
    "detected": "自行提取",
    "received": "下发图斑",
}
"""Chinese label of each ``origin``."""

# --------------------------------------------------------------------------------------------------
# Patch type (图斑类型, TBLX)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatchType:
    """One patch type (图斑类型, TBLX): what kind of change a monitoring patch is.

    ``code`` is the identifier in code, ``label_zh`` the TBLX value written to the
    field packages, ``label_en`` its meaning. It says what changed on the ground
    (the patch), not what the overlay found (the piece ``status``, THJG) nor what the
    field team decides (PDLX).
    """

    code: str
    label_zh: str
    label_en: str


PATCH_TYPE_NEW_CONSTRUCTION: Final = "new_construction"
"""New construction land (新增建设用地): what landcheck detects, and what it takes every received
patch to be (the ratio counts new construction only)."""

PATCH_TYPES: Final[tuple[PatchType, ...]] = (
    PatchType(PATCH_TYPE_NEW_CONSTRUCTION, "新增建设用地", "new construction land"),
)
"""The TBLX values landcheck writes. Every patch of a run is new construction (detected, or
received and overlaid as such); other change types of national practice (e.g. 推堆土) are not
produced."""

PATCH_TYPE_BY_CODE: Final[dict[str, PatchType]] = {t.code: t for t in PATCH_TYPES}

# --------------------------------------------------------------------------------------------------
# Field verification: verdicts (PDLX) and rectification (ZGZT)
# --------------------------------------------------------------------------------------------------

EFFECT_ILLEGAL: Final = "illegal"
"""The verified construction counts in the numerator and the denominator of the ratio."""
EFFECT_LEGAL: Final = "legal"
"""The verified construction counts in the denominator only."""
EFFECT_NOT_CONSTRUCTION: Final = "not_construction"
"""Not new construction: the patch leaves both numerator and denominator."""
EFFECT_UNVERIFIED: Final = "unverified"
"""No usable verdict: the patch keeps its suspected (overlay) figures."""

EFFECTS: Final[tuple[str, ...]] = (EFFECT_ILLEGAL, EFFECT_LEGAL, EFFECT_NOT_CONSTRUCTION, EFFECT_UNVERIFIED)
"""Every effect a verdict can have on the ratio."""


@dataclass(frozen=True)
class Verdict:
    """One field-verification verdict (判定类型, PDLX).

    ``code`` is the identifier in code and data, ``label_zh`` the word the field
    team writes into PDLX, ``label_en`` its meaning, ``default_effect`` one of
    :data:`EFFECTS`: what the verdict does to the ratio unless a run says otherwise.
    """

    code: str
    label_zh: str
    label_en: str
    default_effect: str


VERDICTS: Final[tuple[Verdict, ...]] = (
    Verdict("legal", "合法", "legal", EFFECT_LEGAL),
    Verdict("illegal", "违法", "illegal", EFFECT_ILLEGAL),
    Verdict("false_change", "伪变化", "false change: nothing was built", EFFECT_NOT_CONSTRUCTION),
    Verdict("facility_agriculture", "设施农用地", "facility agriculture land", EFFECT_NOT_CONSTRUCTION),
    Verdict("temporary_use", "临时用地", "temporary use land", EFFECT_NOT_CONSTRUCTION),
    Verdict("other", "其他", "other: explain in HCSM", EFFECT_UNVERIFIED),
)
"""The allowed PDLX verdicts (../shared/domain.md), in the order the field packages list them."""

VERDICTS_ZH: Final[tuple[str, ...]] = tuple(v.label_zh for v in VERDICTS)
"""The allowed PDLX values, as written by the field team."""

VERDICT_BY_CODE: Final[dict[str, Verdict]] = {v.code: v for v in VERDICTS}
VERDICT_BY_LABEL: Final[dict[str, Verdict]] = {v.label_zh: v for v in VERDICTS}


def verdict_of(pdlx: Any) -> Verdict | None:
    """The verdict a PDLX value names; None when it is empty (None, NaN, blank: not verified yet).

    Surrounding white space is ignored. Raises ``ValueError`` for any other text,
    naming the allowed values. The effect of None is :data:`EFFECT_UNVERIFIED`.
    """
    if pdlx is None or (isinstance(pdlx, float) and math.isnan(pdlx)):
        return None
    text = str(pdlx).strip()
    if not text:
        return None
    try:
        return VERDICT_BY_LABEL[text]
    except KeyError:
        raise ValueError(f"PDLX {text!r} is not a verdict: expected one of {'、'.join(VERDICTS_ZH)}") from None


@dataclass(frozen=True)
class Rectification:
    """One rectification state (整改状态, ZGZT): ``code``, the Chinese ``label_zh``, ``label_en``."""

    code: str
    label_zh: str
    label_en: str


RECTIFICATIONS: Final[tuple[Rectification, ...]] = (
    Rectification("rectified", "已整改", "rectified (demolished, re-farmed or approved later)"),
    Rectification("in_progress", "整改中", "being rectified"),
    Rectification("not_rectified", "未整改", "not rectified"),
)
"""The allowed ZGZT values (../shared/domain.md: what was rectified is reported beside what was not)."""

RECTIFICATIONS_ZH: Final[tuple[str, ...]] = tuple(r.label_zh for r in RECTIFICATIONS)
RECTIFICATION_BY_LABEL: Final[dict[str, Rectification]] = {r.label_zh: r for r in RECTIFICATIONS}
RECTIFICATION_BY_CODE: Final[dict[str, Rectification]] = {r.code: r for r in RECTIFICATIONS}


def rectification_of(zgzt: Any) -> Rectification | None:
    """The rectification state a ZGZT value names; None when it is empty (None, NaN, blank).

    Surrounding white space is ignored. Raises ``ValueError`` for any other text,
    naming the allowed values.
    """
    if zgzt is None or (isinstance(zgzt, float) and math.isnan(zgzt)):
        return None
    text = str(zgzt).strip()
    if not text:
        return None
    try:
        return RECTIFICATION_BY_LABEL[text]
    except KeyError:
        raise ValueError(f"ZGZT {text!r} is not a rectification state: expected one of "
                         f"{'、'.join(RECTIFICATIONS_ZH)}") from None


def default_effects() -> dict[str, str]:
    """Verdict code -> its :attr:`Verdict.default_effect`, for every verdict of :data:`VERDICTS`."""
    return {v.code: v.default_effect for v in VERDICTS}


# --------------------------------------------------------------------------------------------------
# Returned verdicts (``verdicts:`` in the config; pipeline/verdicts.py, overlay/verdicts.py)
# --------------------------------------------------------------------------------------------------

VERDICT_FILE_REQUIRED: Final[tuple[str, ...]] = ("JCBH", "PDLX")
"""Fields every returned verdict file (package Shapefile, GeoPackage, Shapefile, Excel sheet) must have."""

VERDICT_FILE_FIELDS: Final[tuple[str, ...]] = (
    "JCBH", "PDLX", "WFMJ", "HCSM", "HCR", "HCRQ", "ZGZT", "ZP", "XZQDM",
)
"""Fields a returned verdict file may carry (names of :data:`SHAPEFILE_FIELDS`); a column matches
a field by its name (any case) or its Chinese alias (``alias_zh``); other columns are ignored."""

VERDICT_COLUMNS: Final[tuple[str, ...]] = (
    "patch_id", "county_code", "verdict", "wfmj_m2", "rectification",
    "remarks", "verifier", "verified_on", "photos", "source_file", "row",
)
"""The checked verdict table (``overlay.verdicts.check_verdicts``), one row per returned row:
``patch_id`` the JCBH; ``county_code`` the piece's county (XZQDM, or the county a package zip is
named for), None = every piece of the JCBH; ``verdict`` a :data:`VERDICTS` code or None (PDLX
empty); ``wfmj_m2`` WFMJ (NaN when not given: empty or 0); ``rectification`` a
:data:`RECTIFICATIONS` code or None; ``remarks`` HCSM, ``verifier`` HCR, ``verified_on`` HCRQ
(``YYYY-MM-DD``), ``photos`` ZP (text or None); ``source_file`` and ``row`` (1-based) where it
was read."""

VERIFIED_COLUMNS: Final[tuple[str, ...]] = (
    "verdict", "effect", "wfmj_m2",
    "verified_illegal_farmland_m2", "verified_legal_farmland_m2", "verified_farmland_m2",
    "counts_as_construction", "rectification", "verdict_source",
)
"""Columns ``overlay.verdicts.apply_verdicts`` adds to the pieces: the piece's verdict code (None
without one), its effect (:data:`EFFECTS`), WFMJ, the verified illegal / legal / occupied
farmland (m²; numerator, legal part, denominator contribution), whether the piece still counts
as new construction, the rectification code and where the verdict was read (``file row N``)."""

PROGRESS_COLUMNS: Final[tuple[str, ...]] = (
    "county_code", "county_name", "n_pieces", "n_verified", "n_unverified", "verified_share",
    "complete",
)
"""Per-county verification progress (``overlay.verdicts.verification_progress``): pieces, those
with a verdict whose effect is not ``unverified``, the rest, the verified share (NaN without
pieces) and whether every piece is verified."""

EFFECT_LABELS_ZH: Final[dict[str, str]] = {
    EFFECT_ILLEGAL: "计入违法占用耕地",
    EFFECT_LEGAL: "计入合法占用耕地",
    EFFECT_NOT_CONSTRUCTION: "非新增建设，不计入比例",
    EFFECT_UNVERIFIED: "未核查，按套合结果",
}
"""Chinese label of each verdict effect (reports, GeoPackage value list)."""

# --------------------------------------------------------------------------------------------------
# The decisive county figures (``overlay.verified.decisive_ratios``; ``county_ratios.csv``)
# --------------------------------------------------------------------------------------------------

LEVEL_REASON_RATIO: Final = "ratio"
"""The county's level follows from its (decisive) ratio and the thresholds."""
LEVEL_REASON_SEVERE_IMPACT: Final = "severe_impact"
"""The county is at accountability by hand (``severe_impact:`` in the config), whatever its ratio
(Order No. 15 art. 3: below 15 % but with severe impact or other serious consequences)."""
LEVEL_REASON_FAILED: Final = "failed"
"""``level_reason`` of a county whose job failed (no figures; see ``failure_reason``)."""

LEVEL_REASONS: Final[tuple[str, ...]] = (LEVEL_REASON_RATIO, LEVEL_REASON_SEVERE_IMPACT,
                                         LEVEL_REASON_FAILED)
"""Values of the county ``level_reason``."""
LEVEL_REASON_LABELS_ZH: Final[dict[str, str]] = {
    LEVEL_REASON_RATIO: "按违法占用耕地比例",
    LEVEL_REASON_SEVERE_IMPACT: "造成恶劣影响或者其他严重后果",
    LEVEL_REASON_FAILED: "本县计算失败，未得出比例",
}
"""Chinese label of each ``level_reason``."""

KEY_PROJECT_MIN_SHARE: Final = 0.5
"""A piece belongs to a key project of the ``key_projects`` layer when more than this share of its
area lies inside the layer's polygons."""

COUNTY_VERIFIED_COLUMNS: Final[tuple[str, ...]] = (
    "suspected_occupied_farmland_m2",
    "suspected_illegal_farmland_m2",
    "suspected_ratio",
    "suspected_level",
    "n_verified",
    "verified_share",
    "complete",
    "key_project_illegal_m2",
    "after_deduction_ratio",
    "rectified_illegal_m2",
    "level_reason",
    "severe_impact_reason",
    "previous_ratio",
    "previous_level",
    "ratio_change",
    "previous_unrectified_n",
    "previous_unrectified_m2",
    "failure_reason",
)
"""Columns a run adds to :data:`COUNTY_COLUMNS` (``overlay.verified.decisive_ratios``), in this
order. ``ratio``, ``level`` and the areas of :data:`COUNTY_COLUMNS` are the DECISIVE figures
(verdicts applied where they exist, the overlay's figure for every unverified piece); the
``suspected_*`` columns are the overlay alone. ``n_verified`` pieces with a verdict that counts,
``verified_share`` of all pieces (NaN without pieces), ``complete`` every piece verified;
``key_project_illegal_m2`` decisive illegal farmland of key-project pieces, deducted from the
numerator for ``after_deduction_ratio``; ``rectified_illegal_m2`` decisive illegal farmland whose
ZGZT is 已整改; ``level_reason`` one of :data:`LEVEL_REASONS` with ``severe_impact_reason`` (text,
empty otherwise); ``previous_ratio`` / ``previous_level`` of last year's run and ``ratio_change``
(this ratio - last year's; NaN without ``previous_run``); ``previous_unrectified_n`` / ``_m2`` last
year's illegal pieces of the county not rectified (0 without ``previous_run``); ``failure_reason``
why the county's job failed (level ``failed``, no figures; empty otherwise)."""

RUN_COUNTY_COLUMNS: Final[tuple[str, ...]] = (*COUNTY_COLUMNS, *COUNTY_VERIFIED_COLUMNS)
"""The county table of a run (``county_ratios.csv``, in this order, then ``level_zh``)."""

UNRECTIFIED_COLUMNS: Final[tuple[str, ...]] = (
    "patch_id", "county_code", "county_name", "year", "illegal_farmland_m2", "verdict", "rectification",
)
"""Last year's illegal pieces not rectified (``previous_unrectified.csv``): JCBH, county, last
year's check year, its decisive illegal farmland (m²), its verdict code (None: unverified, the
overlay's figure) and its rectification code (None: not stated)."""

COLUMN_LABELS_ZH: Final[dict[str, str]] = {
    "suspected_occupied_farmland_m2": "疑似新增建设占用耕地面积",
    "suspected_illegal_farmland_m2": "疑似违法占用耕地面积",
    "suspected_ratio": "疑似违法占用耕地比例（套合）",
    "suspected_level": "疑似处理等级（套合）",
    "n_verified": "已核查图斑数",
    "verified_share": "核查进度",
    "complete": "核查完成",
    "key_project_illegal_m2": "重点项目违法占用耕地面积（扣减）",
    "after_deduction_ratio": "扣减后比例",
    "rectified_illegal_m2": "已整改违法占用耕地面积",
    "level_reason": "定级依据",
    "severe_impact_reason": "恶劣影响情形",
    "previous_ratio": "上年度违法占用耕地比例",
    "previous_level": "上年度处理等级",
    "ratio_change": "比例同比变化",
    "previous_unrectified_n": "上年度未整改违法图斑数",
    "previous_unrectified_m2": "上年度未整改违法占用耕地面积",
    "failure_reason": "计算失败原因",
    # piece columns added by the verdicts (VERIFIED_COLUMNS) and the key projects
    "verdict": "判定类型",
    "effect": "核查结论",
    "wfmj_m2": "违法面积（外业认定）",
    "verified_illegal_farmland_m2": "核查后违法占用耕地面积",
    "verified_legal_farmland_m2": "核查后合法占用耕地面积",
    "verified_farmland_m2": "核查后计入占用耕地面积",
    "rectification": "整改状态",
    "verdict_source": "核查结果来源",
    "key_project": "重点项目",
}
"""Chinese headers of the run's added county and piece columns (Excel, HTML)."""

# --------------------------------------------------------------------------------------------------
# Shapefile fields of the field-verification packages
# --------------------------------------------------------------------------------------------------

FIELD_NAME_MAX: Final = 10
"""A Shapefile (DBF) field name has at most 10 characters."""


@dataclass(frozen=True)
class ShapefileField:
    """One attribute field of the field-verification Shapefiles.

    ``name`` (at most 10 ASCII characters), ``alias_zh`` (the short Chinese
    name, e.g. an ArcGIS alias), ``meaning_zh`` / ``meaning_en`` (what the package
    README says), ``dbf_type`` (``str:N``: text of N bytes in the package's encoding,
    UTF-8 or GBK;
    ``float:W.D``: number of width W with D decimals), ``official`` (a name used
    in national practice, ../shared/domain.md; False: landcheck's own) and
    ``filled_by_field_team``.
    """

    name: str
    alias_zh: str
    meaning_zh: str
    meaning_en: str
    dbf_type: str
    official: bool = True
    filled_by_field_team: bool = False


SHAPEFILE_FIELDS: Final[tuple[ShapefileField, ...]] = (
    ShapefileField("JCBH", "监测图斑编号",
                   "监测图斑编号（下发图斑沿用原编号；否则为 行政区代码+年度+位置码）",
                   "monitoring patch number (a received patch keeps its official number; "
                   "otherwise county code + year + location code)", "str:32"),
    ShapefileField("YSBH", "原始图斑编号",
                   "原始图斑编号（提取或下发的图斑，跨县图斑有多个部分）",
                   "source patch id (a patch crossing a county line has several parts)", "str:32",
                   official=False),
    ShapefileField("XZQDM", "行政区代码", "行政区代码", "county code", "str:12"),
    ShapefileField("XZQMC", "行政区名称", "行政区名称", "county name", "str:100"),
    ShapefileField("TBMJ", "图斑面积", "图斑面积（平方米）", "patch area (m²)", "float:16.2"),
    ShapefileField("JCMJ", "监测面积", "监测图斑面积（平方米，与 TBMJ 同义）",
                   "monitored patch area (m², another name for TBMJ)", "float:16.2"),
    ShapefileField("GDMJ", "耕地面积", "占用耕地面积（平方米）", "farmland in the patch (m²)",
                   "float:16.2", official=False),
    ShapefileField("JBNTMJ", "基本农田面积", "占用基本农田面积（平方米）", "basic farmland in the patch (m²)",
                   "float:16.2", official=False),
    ShapefileField("PZMJ", "批准用地面积", "批准用地面积（平方米）", "approved land in the patch (m²)",
                   "float:16.2", official=False),
    ShapefileField("WFGDMJ", "未批占用耕地面积", "未批占用耕地面积（平方米，疑似违法）",
                   "farmland without approval (m², suspected illegal)", "float:16.2", official=False),
    ShapefileField("TBMJM", "图斑面积（亩）", "图斑面积（亩，1亩=10000/15平方米）",
                   "patch area (mu, 1 mu = 10000/15 m²)", "float:14.2", official=False),
    ShapefileField("QSX", "前时相", "前时相影像日期", "before-image date (YYYY-MM-DD)", "str:10"),
    ShapefileField("HSX", "后时相", "后时相影像日期", "after-image date (YYYY-MM-DD)", "str:10"),
    ShapefileField("TBLX", "图斑类型",
                   "图斑类型：变化的类型（新增建设用地），不是套合结果（见 THJG）",
                   "patch type: the kind of change (new construction land), not the overlay result "
                   "(see THJG); values of PATCH_TYPES", "str:40"),
    ShapefileField("PDLX", "判定类型", "判定类型（外业核查填写）", "verdict, filled in by the field team",
                   "str:30", filled_by_field_team=True),
    ShapefileField("WFMJ", "违法面积", "违法面积（平方米，外业核查认定）",
                   "illegal area (m², as verified in the field)", "float:16.2", filled_by_field_team=True),
    ShapefileField("HCSM", "核查说明", "核查说明（外业核查填写）", "remarks, filled in by the field team",
                   "str:254", filled_by_field_team=True),
    ShapefileField("HCR", "核查人", "核查人（外业核查填写）", "verifier, filled in by the field team",
                   "str:50", filled_by_field_team=True),
    ShapefileField("HCRQ", "核查日期", "核查日期（外业核查填写，YYYY-MM-DD）",
                   "verification date (YYYY-MM-DD), filled in by the field team", "str:10",
                   filled_by_field_team=True),
    ShapefileField("ZGZT", "整改状态", "整改状态（已整改 / 整改中 / 未整改）",
                   "rectification status (rectified / being rectified / not rectified)", "str:20",
                   filled_by_field_team=True),
    ShapefileField("ZP", "照片", "照片文件名（外业核查填写）", "photo file names, filled in by the field team",
                   "str:254", filled_by_field_team=True),
    ShapefileField("THJG", "套合结果",
                   "套合结果：图斑与耕地、批准用地套合所得，疑似，未经核查（未批占用耕地 等）",
                   "overlay result: what overlaying the piece on farmland and approvals found "
                   "(suspected, not verified); values of STATUS_LABELS_ZH", "str:40", official=False),
    ShapefileField("GDMJM", "耕地面积（亩）", "占用耕地面积（亩）", "farmland in the patch (mu)",
                   "float:14.2", official=False),
    ShapefileField("WFGDMJM", "未批占用耕地面积（亩）", "未批占用耕地面积（亩，疑似违法）",
                   "farmland without approval (mu, suspected illegal)", "float:14.2", official=False),
    ShapefileField("WFJBNTMJ", "未批占用基本农田面积", "未批占用永久基本农田面积（平方米，疑似违法）",
                   "basic farmland without approval (m², suspected illegal)", "float:16.2",
                   official=False),
    ShapefileField("WFJBNTMJM", "未批占用基本农田面积（亩）", "未批占用永久基本农田面积（亩，疑似违法）",
                   "basic farmland without approval (mu, suspected illegal)", "float:14.2",
                   official=False),
    ShapefileField("DZB", "中心点东坐标",
                   "图斑中心点东坐标（米，本包坐标系，即 GIS 的 X；测量习惯记为 Y），中心点取图斑内一点",
                   "easting of the patch centre (m, in the package's zone: GIS X; surveyors call it Y); "
                   "the centre is a point inside the patch", "float:12.2", official=False),
    ShapefileField("BZB", "中心点北坐标",
                   "图斑中心点北坐标（米，本包坐标系，即 GIS 的 Y；测量习惯记为 X）",
                   "northing of the patch centre (m, in the package's zone: GIS Y; surveyors call it X)",
                   "float:12.2", official=False),
    ShapefileField("JD", "中心点经度", "图斑中心点经度（度，CGCS2000，EPSG:4490）",
                   "longitude of the patch centre (degrees, CGCS2000, EPSG:4490)", "float:12.7",
                   official=False),
    ShapefileField("WD", "中心点纬度", "图斑中心点纬度（度，CGCS2000，EPSG:4490）",
                   "latitude of the patch centre (degrees, CGCS2000, EPSG:4490)", "float:12.7",
                   official=False),
)
"""Every field name the field-verification Shapefiles may carry, official and landcheck's own.
A package writes a subset of them (``reports.field_package.PACKAGE_FIELDS``)."""

FIELD_BY_NAME: Final[dict[str, ShapefileField]] = {f.name: f for f in SHAPEFILE_FIELDS}

PHOTO_SEPARATOR: Final = ";"
"""Separates the photo file names in ZP (e.g. ``IMG_0012.jpg;IMG_0013.jpg``); spaces around it
are ignored, so a file name may not contain it."""


@dataclass(frozen=True)
class PackageEncoding:
    """An attribute encoding of the field-package Shapefiles (``field_packages.encoding``).

    ``name`` is the config value and the Python codec, ``cpg`` what the ``.cpg`` file says,
    ``ldid`` the DBF language-driver byte (0: none), for software that ignores the ``.cpg``.
    """

    name: str
    cpg: str
    ldid: int


PACKAGE_ENCODINGS: Final[tuple[PackageEncoding, ...]] = (
    PackageEncoding("utf-8", "UTF-8", 0x00),
    PackageEncoding("gbk", "GBK", 0x4D),  # 0x4D: code page 936, simplified Chinese (GBK)
)
"""The encodings a field package can be written in, the default first. GBK with its ``.cpg`` is
what many county offices' ArcGIS expects; UTF-8 holds every character."""

PACKAGE_ENCODING_BY_NAME: Final[dict[str, PackageEncoding]] = {e.name: e for e in PACKAGE_ENCODINGS}

# --------------------------------------------------------------------------------------------------
# The monitoring number (JCBH)
# --------------------------------------------------------------------------------------------------

JCBH_CELL_M: Final = 10.0
"""Size (m) of the grid cell the location code names: the representative point is floored to it."""

JCBH_MAX_CHARS: Final = 24
"""Longest JCBH landcheck makes (21 characters plus a collision suffix); the DBF field holds 32."""


def location_code(easting: float, northing: float) -> str:
    """The location code of a representative point given in metres in its Gauss-Krüger zone.

    Easting and northing floored to :data:`JCBH_CELL_M`, as 5 and 6 digits:
    ``location_code(546015.2, 4857031.9) == "54601485703"``. In a CGCS2000
    3-degree zone the easting lies within 333-667 km and a Chinese northing below
    6,000 km, so the code has 11 digits; a point outside that range gives a longer
    code, never a wrong one. ``ValueError`` for a non-finite coordinate.
    """
    if not (math.isfinite(easting) and math.isfinite(northing)):
        raise ValueError(f"representative point ({easting}, {northing}) is not finite")
    return f"{math.floor(easting / JCBH_CELL_M):05d}{math.floor(northing / JCBH_CELL_M):06d}"


def location_codes(eastings: Sequence[float], northings: Sequence[float]) -> list[str]:
    """:func:`location_code` of many points at once: the same strings, without a call per point.

    ``eastings`` and ``northings`` are sequences of equal length (``ValueError`` otherwise),
    fastest as lists of Python floats (``ndarray.tolist()``). A non-finite point raises the
    ``ValueError`` :func:`location_code` raises for it (the first such point).
    """
    if len(eastings) != len(northings):
        raise ValueError(f"{len(eastings)} eastings but {len(northings)} northings")
    floor, cell = math.floor, JCBH_CELL_M
    try:
        # %-formatting of ints writes what the f-string of location_code does, a little faster
        return ["%05d%06d" % (floor(x / cell), floor(y / cell)) for x, y in zip(eastings, northings)]
    except (ValueError, OverflowError):  # floor of NaN, of an infinity
        for x, y in zip(eastings, northings):
            location_code(x, y)  # the scalar function's error for the first bad point
        raise


def collision_suffix(rank: int) -> str:
    """The suffix of the ``rank``-th patch (0-based) sharing a location code: "", "A" ... "Z", "AA", ..."""
    if rank < 0:
        raise ValueError(f"rank must be >= 0, got {rank}")
    letters = ""
    while rank > 0:
        rank, rest = divmod(rank - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def make_jcbh(county_code: str, year: int, location: str) -> str:
    """``<county_code><year><location>``: e.g. ``220202`` + ``2025`` + ``54601485703`` (+ suffix).

    ``location`` is :func:`location_code` with its :func:`collision_suffix`.
    """
    return f"{county_code}{int(year):04d}{location}"


def make_jcbhs(county_codes: Sequence[str], year: int, locations: Sequence[str]) -> list[str]:
    """:func:`make_jcbh` of many patches of one check ``year`` at once: the same strings.

    ``county_codes`` and ``locations`` are sequences of equal length (``ValueError`` otherwise).
    """
    if len(county_codes) != len(locations):
        raise ValueError(f"{len(county_codes)} county codes but {len(locations)} locations")
    y = f"{int(year):04d}"
    return [f"{code}{y}{location}" for code, location in zip(county_codes, locations)]
