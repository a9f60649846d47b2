"""What GDAL's GeoPackage writer leaves out: value lists (coded field domains) in the GeoPackage schema
extension, default layer styles (``layer_styles``) and the GeoPackage version.

pyogrio writes layers but no field domains; the GeoPackage standard keeps them in
two tables of its schema extension: ``gpkg_data_column_constraints`` (one row per
allowed value of an ``enum`` constraint, with its description) and
``gpkg_data_columns`` (which column of which table uses which constraint). GDAL
(3.3 and later) reads such an enum as a coded field domain, and QGIS shows it as a
value map: a drop-down of the Chinese labels in the attribute form, the label in
the attribute table, while the file keeps the code.

:func:`add_enum_domains` writes them with :mod:`sqlite3` into a GeoPackage that
GDAL has closed. :func:`add_layer_styles` writes the ``layer_styles`` table of the
OGC / QGIS convention (QML and SLD per layer; QGIS applies the ``useAsDefault`` row when it
loads the layer), registered in ``gpkg_contents`` as attributes as QGIS does.
:func:`set_gpkg_version` stamps the file as GeoPackage 1.2 (:data:`GPKG_VERSION`): GDAL 3.12
writes 1.4 by default, which GDAL before 3.9 (Debian 12's 3.6) opens with a warning that it
"may only be partially supported".
"""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["EnumDomain", "add_enum_domains", "GPKG_VERSION", "GPKG_APPLICATION_ID", "GPKG_USER_VERSION",
           "StyleRow", "add_layer_styles", "set_gpkg_version", "STYLES_TABLE"]

GPKG_VERSION = "1.2"
"""GeoPackage version written (GDAL dataset creation option ``VERSION``)."""
GPKG_APPLICATION_ID = 0x47504B47
"""``PRAGMA application_id`` of a GeoPackage 1.2 and later ('GPKG')."""
GPKG_USER_VERSION = 10200
"""``PRAGMA user_version`` of a GeoPackage 1.2."""
STYLES_TABLE = "layer_styles"
"""The table of default layer styles (QGIS reads it, and so do GeoServer and others)."""

_SCHEMA_URL = "http://www.geopackage.org/spec/#extension_schema"

_DDL = (
    """CREATE TABLE IF NOT EXISTS gpkg_extensions (
        table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
        scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))""",
    """CREATE TABLE IF NOT EXISTS gpkg_data_columns (
        table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, title TEXT, description TEXT,
        mime_type TEXT, constraint_name TEXT,
        CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name),
        CONSTRAINT gdc_tn UNIQUE (table_name, name))""",
    """CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (
        constraint_name TEXT NOT NULL, constraint_type TEXT NOT NULL, value TEXT, min NUMERIC,
        min_is_inclusive BOOLEAN, max NUMERIC, max_is_inclusive BOOLEAN, description TEXT,
        CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value))""",
)


@dataclass(frozen=True)
class EnumDomain:
    """A list of allowed values: ``name`` (unique in the file), ``values`` as ``(code, label)``
    pairs (the code is stored, the label shown) and an optional column ``title`` (alias)."""

    name: str
    values: Sequence[tuple[str, str]]
    title: str | None = None


def add_enum_domains(path: str | os.PathLike[str], table: str, domains: Mapping[str, EnumDomain]) -> None:
    """Attach ``domains`` (column -> :class:`EnumDomain`) to the columns of ``table`` in ``path``.

    Columns the table lacks are skipped; a domain used by several tables is written once.
    """
    with sqlite3.connect(os.fspath(path)) as db:
        columns = {row[1] for row in db.execute(f'PRAGMA table_info("{table}")')}
        wanted = {col: dom for col, dom in domains.items() if col in columns}
        if not wanted:
            return
        for ddl in _DDL:
            db.execute(ddl)
        for ext_table in ("gpkg_data_columns", "gpkg_data_column_constraints"):
            db.execute("INSERT OR IGNORE INTO gpkg_extensions (table_name, column_name, extension_name, "
                       "definition, scope) VALUES (?, NULL, 'gpkg_schema', ?, 'read-write')",
                       (ext_table, _SCHEMA_URL))
        for column, domain in wanted.items():
            db.executemany(
                "INSERT OR IGNORE INTO gpkg_data_column_constraints (constraint_name, constraint_type, value, "
                "description) VALUES (?, 'enum', ?, ?)",
                [(domain.name, code, label) for code, label in domain.values])
            db.execute(
                "INSERT OR REPLACE INTO gpkg_data_columns (table_name, column_name, name, title, description, "
                "mime_type, constraint_name) VALUES (?, ?, ?, ?, NULL, NULL, ?)",
                (table, column, domain.title, domain.title, domain.name))
    # sqlite3's context manager commits; closing is explicit for Windows file locks
    db.close()


_STYLES_DDL = (
    f'CREATE TABLE IF NOT EXISTS "{STYLES_TABLE}" ("id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
    '"f_table_catalog" TEXT(256), "f_table_schema" TEXT(256), "f_table_name" TEXT(256), '
    '"f_geometry_column" TEXT(256), "styleName" TEXT(30), "styleQML" TEXT, "styleSLD" TEXT, '
    '"useAsDefault" BOOLEAN, "description" TEXT, "owner" TEXT(30), "ui" TEXT(30), '
    "\"update_time\" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
)


@dataclass(frozen=True)
class StyleRow:
    """One row of ``layer_styles``: the ``table`` (layer) it styles, its ``name``, the style as
    QML and SLD documents, whether QGIS applies it by default, and a ``description``."""

    table: str
    name: str
    qml: str
    sld: str
    default: bool = True
    description: str = ""


def add_layer_styles(path: str | os.PathLike[str], styles: Sequence[StyleRow]) -> None:
    """Write ``styles`` into the ``layer_styles`` table of ``path`` (created and registered when missing).

    The geometry column of each styled table is read from ``gpkg_geometry_columns``.
    """
    with sqlite3.connect(os.fspath(path)) as db:
        geometry = dict(db.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
        db.execute(_STYLES_DDL)
        db.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, "
                   "last_change) VALUES (?, 'attributes', ?, '', strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
                   (STYLES_TABLE, STYLES_TABLE))
        db.executemany(
            f'INSERT INTO "{STYLES_TABLE}" (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, '
            'styleName, styleQML, styleSLD, useAsDefault, description, owner, ui) '
            "VALUES ('', '', ?, ?, ?, ?, ?, ?, ?, 'landcheck', '')",
            [(s.table, geometry.get(s.table, ""), s.name, s.qml, s.sld, int(s.default), s.description)
             for s in styles])
        has_ogr = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpkg_ogr_contents'").fetchone()
        if has_ogr:  # GDAL's feature-count cache: keep it right for the new table
            db.execute("DELETE FROM gpkg_ogr_contents WHERE table_name = ?", (STYLES_TABLE,))
            db.execute(f'INSERT INTO gpkg_ogr_contents (table_name, feature_count) '
                       f'SELECT ?, COUNT(*) FROM "{STYLES_TABLE}"', (STYLES_TABLE,))
    db.close()


def set_gpkg_version(path: str | os.PathLike[str]) -> None:
    """Stamp ``path`` as a GeoPackage 1.2 (``application_id`` 'GPKG', ``user_version`` 10200)."""
    db = sqlite3.connect(os.fspath(path))
    try:
        db.execute(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {GPKG_USER_VERSION}")
        db.commit()
    finally:
        db.close()
