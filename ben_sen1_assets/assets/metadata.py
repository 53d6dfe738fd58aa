"""Small helpers that turn results into Dagster UI metadata (tables, inline images)."""

from __future__ import annotations

import base64
import io

import dagster as dg
from PIL import Image


def png_markdown(image: Image.Image, title: str) -> dg.MetadataValue:
    """An inline PNG rendered in the UI's markdown metadata view."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return dg.MetadataValue.md(f"**{title}**\n\n![{title}](data:image/png;base64,{encoded})")


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "_(empty)_"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
