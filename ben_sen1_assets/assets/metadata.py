"""Small helpers that turn results into Dagster UI metadata: inline pictures, sortable tables,
column schemas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg

#: owners of every asset of the code location (shown and filterable in the UI)
OWNERS = ["team:ben-sen1"]


def picture(image, title: str, width: int = 273, lossy: bool = False) -> dg.MetadataValue:
    """A PIL image (or renderings of one, most detailed first) as markdown that the UI shows in
    place (under its 1,000-character inline limit): palette PNG for maps and charts, AVIF for
    quicklooks (``lossy``). See ``ben_sen1_assets.previews.inline``."""
    from ben_sen1_assets.previews.inline import inline_markdown

    return dg.MetadataValue.md(inline_markdown(image, title, width, lossy=lossy))


def zoomed_map(render, window: tuple[int, int, int, int], key: str, title: str,
               max_extent: int = 45) -> dict[str, dg.MetadataValue]:
    """``{key: picture}`` of ``render(cell, window)`` when the window (patches) is at most
    ``max_extent`` patches wide (a small scope is a speck on the whole tile's map), else ``{}``."""
    extent = window[2] - window[0]
    if extent > max_extent:
        return {}
    cell = max(2, 270 // extent)
    renderings = [render(c, window) for c in sorted({cell, max(2, cell // 2), 2}, reverse=True)]
    return {key: picture(renderings, title, width=270)}


def picture_full(image, title: str) -> dg.MetadataValue:
    """A PIL image at full size (the UI shows it behind "[Show Markdown]")."""
    from ben_sen1_assets.previews.inline import full_markdown

    return dg.MetadataValue.md(full_markdown(image, title))


def table(rows: Sequence[Mapping], columns: Sequence[tuple[str, str, str]]) -> dg.MetadataValue:
    """A sortable table: ``columns`` are (name, type, description), type one of string, int,
    float, bool; ``rows`` map column names to values (floats already rounded)."""
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name, type=kind, description=description) for name, kind, description in columns]
    )
    records = [dg.TableRecord({name: row.get(name) for name, _, _ in columns}) for row in rows]
    return dg.MetadataValue.table(records=records, schema=schema)


_KINDS = {"i": "int", "u": "int", "f": "float", "b": "bool", "M": "datetime", "O": "string", "U": "string"}


def column_schema(frame, descriptions: Mapping[str, str]) -> dg.TableSchema:
    """``dagster/column_schema`` of a (Geo)DataFrame: each column's type from its dtype
    (``geometry`` for the geometry column) and its description."""
    geometry = getattr(frame, "_geometry_column_name", None)
    columns = []
    for name, dtype in frame.dtypes.items():
        kind = "geometry (WKB, EPSG:4326)" if name == geometry else _KINDS.get(dtype.kind, str(dtype))
        columns.append(dg.TableColumn(str(name), type=kind, description=descriptions.get(str(name))))
    return dg.TableSchema(columns=columns)


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "_(empty)_"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
