"""Images encoded small enough to be shown inline where a viewer caps what it renders inline.

The Dagster UI renders a markdown metadata value in place only when it is shorter than 1,000
characters (longer ones hide behind "[Show Markdown]"). An image therefore travels as a data URI
inside an SVG that displays it larger than its pixels (crisp for maps, smooth for quicklooks):
maps are palette PNGs (a few hundred bytes), quicklooks AVIF (lossy) at the best quality, then
the largest size, that fits the budget.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from urllib.parse import quote

from PIL import Image

#: the Dagster UI shows a markdown metadata value inline below this many characters
INLINE_MARKDOWN_LIMIT = 1000


def _encode(image: Image.Image, fmt: str, quality: int | None = None) -> str:
    buffer = io.BytesIO()
    if fmt == "png":
        if image.mode == "P":  # a palette of the colours used only: 256 entries cost 768 bytes
            image = image.copy()
            used = image.getextrema()[1] + 1
            image.putpalette(image.getpalette()[: 3 * used])
        image.save(buffer, format="PNG", optimize=True)
        mime = "image/png"
    else:
        image.save(buffer, format="AVIF", quality=quality)
        mime = "image/avif"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def _markdown(uri: str, title: str, width: int, height: int, pixelated: bool) -> str:
    """``![title](svg)``: the SVG shows ``uri`` at ``width`` × ``height`` CSS px."""
    style = " style='image-rendering:pixelated'" if pixelated else ""
    svg = (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'>"
           f"<image width='{width}' height='{height}' preserveAspectRatio='none'{style} href='{uri}'/></svg>")
    # '#', '%', spaces and brackets would end or break the URL in markdown: percent-encode them
    return f"![{title}](data:image/svg+xml,{quote(svg, safe=chr(39) + ':/=;,+<>.-_')})"


def inline_markdown(image: Image.Image | Sequence[Image.Image], title: str, display_width: int, lossy: bool,
                    limit: int = INLINE_MARKDOWN_LIMIT) -> str:
    """Markdown that shows ``image`` inline at ``display_width`` CSS px wide (aspect kept), in
    fewer than ``limit`` characters.

    ``image`` may be a sequence of renderings, most detailed first (e.g. a map at 3, 2 and 1 px
    per patch): the first that fits wins. ``lossy`` False (maps, charts): palette PNG, displayed
    pixelated; ``lossy`` True (quicklooks, thumbnails): AVIF, quality lowered until it fits. The
    last rendering is then downsized in steps. Raises ``ValueError`` if even an 8 px image does not
    fit (a title that is too long).
    """
    candidates = [image] if isinstance(image, Image.Image) else list(image)
    height_ratio = candidates[0].height / candidates[0].width
    display = (display_width, max(1, round(display_width * height_ratio)))

    def fit(current: Image.Image) -> str | None:
        if lossy:
            for quality in (60, 45, 35, 25):
                md = _markdown(_encode(current.convert("RGB"), "avif", quality), title, *display, pixelated=False)
                if len(md) < limit:
                    return md
            return None
        md = _markdown(_encode(current, "png"), title, *display, pixelated=True)
        return md if len(md) < limit else None

    for candidate in candidates:
        if (md := fit(candidate)) is not None:
            return md
    current = candidates[-1]
    while min(current.size) >= 8:
        current = current.resize((max(1, round(current.width * 0.8)), max(1, round(current.height * 0.8))),
                                 Image.Resampling.BOX if lossy else Image.Resampling.NEAREST)
        if (md := fit(current)) is not None:
            return md
    raise ValueError(f"{title!r}: no encoding of the image fits {limit} characters")


def full_markdown(image: Image.Image, title: str) -> str:
    """Markdown with the image at full size as a PNG (shown behind a click when large)."""
    return f"**{title}**\n\n![{title}]({_encode(image, 'png')})"
