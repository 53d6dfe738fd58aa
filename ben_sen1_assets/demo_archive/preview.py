"""The ``preview/`` folder of a demo product: quick-look PNG, map-overlay KML, product-preview HTML.

Layouts follow ESA's files (KML ``gx:LatLonQuad`` ground overlay of ``quick-look.png``; an HTML
listing of the product's files). The quick-look is our rendering of the simulated DN, 1/50 of the
image size like ESA's: R = VV, G = VH, B = VV − VH (dB of DN², 2–98 % stretch).
"""

from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np
from PIL import Image

QUICKLOOK_STEP = 50

_KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns:gx="http://www.google.com/kml/ext/2.2">
  <Document>
    <name>Sentinel-1 Map Overlay</name>
    <Folder>
      <name>Sentinel-1 Scene Overlay</name>
      <GroundOverlay>
        <name>Sentinel-1 Image Overlay</name>
        <Icon>
          <href>quick-look.png</href>
        </Icon>
        <gx:LatLonQuad>
          <coordinates>{coordinates}</coordinates>
        </gx:LatLonQuad>
      </GroundOverlay>
    </Folder>
  </Document>
</kml>
"""


def quicklook_png(samples: dict[str, np.ndarray]) -> bytes:
    """PNG bytes of the quick-look from subsampled DN per polarisation (``VV``, ``VH``)."""

    def stretch(x: np.ndarray) -> np.ndarray:
        finite = x[np.isfinite(x)]
        lo, hi = (np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0))
        return (np.clip((np.nan_to_num(x, nan=lo) - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)

    with np.errstate(divide="ignore"):
        db = {p: np.where(v > 0, 20 * np.log10(np.maximum(v, 1).astype(np.float64)), np.nan) for p, v in samples.items()}
    vv = db.get("VV", next(iter(db.values())))
    vh = db.get("VH", vv)
    rgb = np.dstack([stretch(vv), stretch(vh), stretch(vv - vh)])
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def map_overlay_kml(footprint_latlon: list[tuple[float, float]]) -> bytes:
    """KML ground overlay of the quick-look on the footprint corners (lon,lat as ESA writes them)."""
    coords = " ".join(f"{lon:.6f},{lat:.6f}" for lat, lon in footprint_latlon)
    return _KML.format(coordinates=coords).encode()


def product_preview_html(name: str, safe_dir: Path) -> bytes:
    """An HTML listing of the product's files, like ESA's ``product-preview.html``."""
    files = sorted(p.relative_to(safe_dir).as_posix() for p in safe_dir.rglob("*") if p.is_file())
    files.append("manifest.safe")
    groups: dict[str, list[str]] = {}
    for f in files:
        groups.setdefault(f.rsplit("/", 1)[0] if "/" in f else "", []).append(f)
    out = [f"<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\">\n"
           f"<title>{html.escape(name)}</title>\n</head>\n<body>\n<h1>{html.escape(name)}</h1>\n"
           "<p>SIMULATED PIXELS (see SIMULATED.txt)</p>\n"]
    for folder in sorted(groups):
        out.append(f"<h2>{html.escape(folder or '.')}</h2>\n<ul>\n")
        for f in sorted(groups[folder]):
            out.append(f"<li><a href=\"../{html.escape(f)}\">{html.escape(f.rsplit('/', 1)[-1])}</a></li>\n")
        out.append("</ul>\n")
    out.append("</body>\n</html>\n")
    return "".join(out).encode()
