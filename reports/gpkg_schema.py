"""Value lists (coded field domains) for GeoPackage columns, in the GeoPackage schema extension.

pyogrio writes layers but no field domains; the GeoPackage standard keeps them in
two tables of its schema extension: ``gpkg_data_column_constraints`` (one row per
allowed value of an ``enum`` constraint, with its description) and
``gpkg_data_columns`` (which column of which table uses which constraint). GDAL
(3.3 and later) reads such an enum as a coded field domain, and QGIS shows it as a
value map: a drop-down of the Chinese labels in the attribute form, the label in
the attribute table, while the file keeps the code.

:func:`add_enum_domains` writes them with :mod:`sqlite3` into a GeoPackage that
GDAL has closed.
"""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["EnumDomain", "add_enum_domains"]

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
