"""The one processing-parameters object of the S1 chain: :class:`ProcessingConfig`.

Every parameter that changes output pixels lives here, in the field's vocabulary (SNAP operator
names in brackets, so a SNAP GPT graph can be built from it 1:1):

- ``polarisations``: bands produced, in order (default ``("VV", "VH")``).
- ``calibration`` [Calibration: outputSigmaBand/outputBetaBand/outputGammaBand]: ``"sigma0"``
  (default), ``"beta0"``, ``"gamma0"`` (γ0 from the ellipsoid-based annotation LUT, no
  terrain flattening) or ``"gamma0_rtc"`` [Calibration outputBetaBand → Terrain-Flattening]:
  terrain-flattened γ0_T = β0 / normalised illuminated area, on the geocoding's own DEM
  (:mod:`.terrain_flattening`, Small 2011; pixels below 5 % of flat ground's area are NaN).
- ``thermal_noise_removal`` [ThermalNoiseRemoval: removeThermalNoise]: subtract the annotation's
  noise LUT (range × azimuth) before calibration.
- ``negative`` / ``negative_floor``: what a value below the floor (≤ 0 after noise removal
  where DN² < N) becomes **at the dB conversion**: ``"floor"`` (default: ``negative_floor`` =
  1e-5, −50 dB), ``"nan"`` or ``"zero"`` (NaN in dB). Linear values are never clipped: dark
  areas stay unbiased through the speckle filter, resampling and mosaics.
- ``border_noise_removal`` [Remove-GRD-Border-Noise]: ``"auto"`` (edge trim for IPF < 2.90,
  zero borders only for newer products), ``"edge_trim"`` (always) or ``"zero_only"``;
  ``border_limit`` (500) [borderLimit], ``trim_threshold`` (0.5) [trimThreshold],
  ``trim_run`` (16) (our algorithm: see :mod:`.radiometry`).
- ``speckle_filter`` [Speckle-Filter: filter, filterSizeX/Y, enl, sigmaStr]: a
  :class:`.speckle.SpeckleFilter` (``refined_lee`` 7×7 default, ``lee_sigma``, ``boxcar``,
  ``none``), applied to the linear calibrated GRD before geocoding.
- ``dem`` [Terrain-Correction: demName / externalDEMFile / externalDEMNoDataValue]: a
  :class:`DemConfig` describing the DEM source and its vertical datum (geoid).
- ``resampling`` [Terrain-Correction: imgResamplingMethod]: ``"bilinear"`` (default,
  BILINEAR_INTERPOLATION) or ``"nearest"`` (NEAREST_NEIGHBOUR) interpolation of the GRD.
- ``dem_resampling`` [demResamplingMethod]: always bilinear here (recorded, not a choice).
- ``output_scale`` [LinearToFromdB]: ``"db"`` (default, 10·log10) or ``"linear"``.
- ``srgr`` (geometry convention): ``"linear"`` (default: slant→ground-range polynomials
  interpolated in azimuth time, as SNAP and sarsen) or ``"nearest"`` (the set nearest in time,
  as the annotation's geolocation grid); ``orbit_interpolation``: ``"hermite"`` (default) or
  ``"polyfit"`` of the annotation's state vectors; ``geodesy_step``: pixels between exact
  pyproj geodesy nodes (interpolated in between, < 1 mm); ``geocoding``: ``"tiepoints"``
  (default: exact solves every ``tiepoint_step`` px at ``tiepoint_layers`` heights, interpolated;
  ≤ 0.01 px from the per-pixel solve, see :mod:`.tiepoints`) or ``"exact"`` (every pixel).
- ``nodata``: NaN (fixed: recorded so readers know).

``to_dict()``/``from_dict()`` round-trip through JSON; ``fingerprint()`` is a stable hash of the
canonical JSON plus :data:`CHAIN_VERSION` (bump it when the chain's numerics change), for
Dagster code/data versions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Literal

from .errors import SafeError
from .radiometry import QUANTITIES, RadiometryParams
from .speckle import SpeckleFilter

#: bump when the chain's numerics change (part of :meth:`ProcessingConfig.fingerprint`)
CHAIN_VERSION = "4"

DEM_KINDS = ("local", "glo30", "constant")


class ConfigError(SafeError, ValueError):
    """A processing configuration is invalid: names the field and what was expected."""


@dataclass(frozen=True)
class DemConfig:
    """Description of a DEM source (built into a :class:`.dem.DemSource` by :meth:`source`).

    - ``kind="local"``: ``path`` of a GeoTIFF/VRT; ``vertical_datum`` from the file's CRS when it
      is compound (EPSG:9707 = WGS84 + EGM96), else required.
    - ``kind="glo30"``: Copernicus GLO-30 (EGM2008); ``url`` of the tile tree (default the public
      S3 bucket), tiles cached in a store folder given at build time; ``sea``: ``"error"`` or
      ``"sea_level"`` for missing (open-sea) tiles.
    - ``kind="constant"``: ``height`` (m) above ``vertical_datum`` (default ``"ellipsoid"``).

    ``fill``: DEM-gap policy: ``"error"`` (default), ``"nearest"``, ``"constant:<metres>"``,
    ``"nearest_else_constant:<metres>"`` (nearest DEM height; the constant where a block has none).
    """

    kind: Literal["local", "glo30", "constant"] = "glo30"
    path: str | None = None
    url: str | None = None
    height: float | None = None
    vertical_datum: str | None = None
    fill: str = "error"
    sea: Literal["error", "sea_level"] = "error"

    def __post_init__(self) -> None:
        if self.kind not in DEM_KINDS:
            raise ConfigError(f"dem.kind {self.kind!r}: expected one of {DEM_KINDS}")
        if self.kind == "local" and not self.path:
            raise ConfigError("dem.path is required for dem.kind='local'")
        if self.kind == "constant":
            if self.height is None or not math.isfinite(float(self.height)):
                raise ConfigError(f"dem.height must be a finite number for dem.kind='constant', got {self.height!r}")
            object.__setattr__(self, "height", float(self.height))
        if self.kind == "glo30" and self.vertical_datum is None:
            object.__setattr__(self, "vertical_datum", "EGM2008")
        if self.vertical_datum is not None:
            from .geoid import normalise_vertical_datum

            try:
                object.__setattr__(self, "vertical_datum", normalise_vertical_datum(self.vertical_datum))
            except Exception as exc:
                raise ConfigError(f"dem.vertical_datum {self.vertical_datum!r}: {exc}") from exc
        if self.sea not in ("error", "sea_level"):
            raise ConfigError(f"dem.sea {self.sea!r}: expected 'error' or 'sea_level'")
        from .dem import DemError, _parse_fill

        try:
            _parse_fill(self.fill)
        except DemError as exc:
            raise ConfigError(f"dem.fill: {exc}") from None

    @classmethod
    def local(cls, path: str | os.PathLike, vertical_datum: str | None = None, fill: str = "error") -> "DemConfig":
        return cls(kind="local", path=os.fspath(path), vertical_datum=vertical_datum, fill=fill)

    @classmethod
    def constant(cls, height: float, vertical_datum: str = "ellipsoid") -> "DemConfig":
        return cls(kind="constant", height=height, vertical_datum=vertical_datum)

    @classmethod
    def glo30(cls, url: str | None = None, sea: str = "error", fill: str = "error") -> "DemConfig":
        return cls(kind="glo30", url=url, vertical_datum="EGM2008", sea=sea, fill=fill)

    def source(self, store: str | os.PathLike | None = None, storage_options: dict | None = None):
        """The :class:`.dem.DemSource` this describes (``store``: GLO-30 tile cache folder)."""
        from . import dem

        if self.kind == "local":
            return dem.LocalDem(self.path, self.vertical_datum, fill=self.fill)
        if self.kind == "constant":
            return dem.ConstantDem(self.height, self.vertical_datum or "ellipsoid")
        if store is None:
            raise ConfigError("dem.kind='glo30' needs a tile store folder (store=...)")
        kw: dict[str, Any] = {"sea": self.sea, "fill": self.fill, "storage_options": storage_options}
        if self.url:
            kw["url"] = self.url
        return dem.Glo30Dem(store, **kw)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DemConfig":
        return _construct(cls, d, "dem")


def _construct(cls, d: Any, where: str):
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(d).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; expected some of {sorted(names)}")
    try:
        return cls(**d)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


@dataclass(frozen=True)
class ProcessingConfig:
    """All parameters of the S1 GRD → tile-grid chain (see the module docstring for each)."""

    polarisations: tuple[str, ...] = ("VV", "VH")
    calibration: Literal["sigma0", "beta0", "gamma0", "gamma0_rtc"] = "sigma0"
    thermal_noise_removal: bool = True
    negative: Literal["floor", "nan", "zero"] = "floor"
    negative_floor: float = 1e-5
    border_noise_removal: Literal["auto", "zero_only", "edge_trim"] = "auto"
    border_limit: int = 500
    trim_threshold: float = 0.5
    trim_run: int = 16
    speckle_filter: SpeckleFilter = field(default_factory=SpeckleFilter)
    dem: DemConfig = field(default_factory=DemConfig)
    resampling: Literal["bilinear", "nearest"] = "bilinear"
    dem_resampling: Literal["bilinear"] = "bilinear"
    output_scale: Literal["db", "linear"] = "db"
    srgr: Literal["linear", "nearest"] = "linear"
    orbit_interpolation: Literal["hermite", "polyfit"] = "hermite"
    geodesy_step: int = 16
    geocoding: Literal["tiepoints", "exact"] = "tiepoints"
    tiepoint_step: int = 16
    tiepoint_layers: int = 3
    nodata: float = math.nan

    def __post_init__(self) -> None:
        pols = tuple(str(p).upper() for p in (self.polarisations if not isinstance(self.polarisations, str) else (self.polarisations,)))
        if not pols or len(set(pols)) != len(pols) or any(p not in ("VV", "VH", "HH", "HV") for p in pols):
            raise ConfigError(f"polarisations {self.polarisations!r}: expected distinct values of VV, VH, HH, HV")
        object.__setattr__(self, "polarisations", pols)
        choices = {
            "calibration": (*QUANTITIES, "gamma0_rtc"),
            "negative": ("floor", "nan", "zero"),
            "border_noise_removal": ("auto", "zero_only", "edge_trim"),
            "resampling": ("bilinear", "nearest"),
            "dem_resampling": ("bilinear",),
            "output_scale": ("db", "linear"),
            "srgr": ("linear", "nearest"),
            "orbit_interpolation": ("hermite", "polyfit"),
            "geocoding": ("tiepoints", "exact"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} {getattr(self, name)!r}: expected one of {allowed}")
        if not isinstance(self.thermal_noise_removal, bool):
            raise ConfigError(f"thermal_noise_removal must be true/false, got {self.thermal_noise_removal!r}")
        if not (isinstance(self.geodesy_step, int) and 1 <= self.geodesy_step <= 64):
            raise ConfigError(f"geodesy_step must be an integer in 1..64, got {self.geodesy_step!r}")
        if not (isinstance(self.tiepoint_step, int) and 1 <= self.tiepoint_step <= 64):
            raise ConfigError(f"tiepoint_step must be an integer in 1..64, got {self.tiepoint_step!r}")
        if not (isinstance(self.tiepoint_layers, int) and 2 <= self.tiepoint_layers <= 5):
            raise ConfigError(f"tiepoint_layers must be an integer in 2..5, got {self.tiepoint_layers!r}")
        if not (isinstance(self.speckle_filter, SpeckleFilter)):
            raise ConfigError(f"speckle_filter must be a SpeckleFilter, got {type(self.speckle_filter).__name__}")
        if not isinstance(self.dem, DemConfig):
            raise ConfigError(f"dem must be a DemConfig, got {type(self.dem).__name__}")
        if not (isinstance(self.nodata, float) and math.isnan(self.nodata)):
            raise ConfigError(f"nodata must be NaN, got {self.nodata!r}")
        try:
            self.radiometry_params()
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc

    def radiometry_params(self) -> RadiometryParams:
        """The :class:`.radiometry.RadiometryParams` of this config."""
        return RadiometryParams(
            quantity="beta0" if self.calibration == "gamma0_rtc" else self.calibration,
            thermal_noise=self.thermal_noise_removal,
            negative=self.negative,
            floor=self.negative_floor,
            border_noise=self.border_noise_removal,
            border_limit=self.border_limit,
            trim_threshold=self.trim_threshold,
            trim_run=self.trim_run,
        )

    def replace(self, **changes) -> "ProcessingConfig":
        """A copy with ``changes`` (dataclasses.replace)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-able dict (nested dicts for ``speckle_filter`` and ``dem``; nodata as "nan")."""
        d = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, (SpeckleFilter, DemConfig)):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = list(v)
            elif f.name == "nodata":
                v = "nan"
            d[f.name] = v
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ProcessingConfig":
        """Inverse of :meth:`to_dict`; missing fields take their defaults, unknown ones are an error."""
        if not isinstance(d, dict):
            raise ConfigError(f"processing config: expected a mapping, got {type(d).__name__}")
        d = dict(d)
        if "speckle_filter" in d and not isinstance(d["speckle_filter"], SpeckleFilter):
            sf = d["speckle_filter"]
            if not isinstance(sf, dict):
                raise ConfigError(f"speckle_filter: expected a mapping, got {type(sf).__name__}")
            names = {f.name for f in dataclasses.fields(SpeckleFilter)}
            if set(sf) - names:
                raise ConfigError(f"speckle_filter: unknown field(s) {sorted(set(sf) - names)}; expected some of {sorted(names)}")
            try:
                d["speckle_filter"] = SpeckleFilter.from_dict(sf)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"speckle_filter: {exc}") from exc
        if "dem" in d and not isinstance(d["dem"], DemConfig):
            d["dem"] = DemConfig.from_dict(d["dem"])
        if "polarisations" in d:
            d["polarisations"] = tuple(d["polarisations"]) if not isinstance(d["polarisations"], str) else (d["polarisations"],)
        if "nodata" in d:
            v = d["nodata"]
            if not (v is None or (isinstance(v, str) and v.lower() == "nan") or (isinstance(v, float) and math.isnan(v))):
                raise ConfigError(f"nodata must be NaN, got {v!r}")
            d["nodata"] = math.nan
        return _construct(cls, d, "processing config")

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, compact)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def to_portable_json(self) -> str:
        """:meth:`to_json` with the local DEM's path reduced to its file name: what outputs record
        (no machine path in a file's attributes; the fingerprint still hashes the full config)."""
        d = self.to_dict()
        if d.get("dem", {}).get("path"):
            d["dem"]["path"] = PurePath(d["dem"]["path"]).name
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "ProcessingConfig":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"processing config: not valid JSON ({exc})") from exc
        return cls.from_dict(d)

    def fingerprint(self) -> str:
        """Stable 16-hex hash of the canonical JSON and :data:`CHAIN_VERSION`."""
        payload = f"chain:{CHAIN_VERSION}\n{self.to_json()}".encode()
        return hashlib.sha256(payload).hexdigest()[:16]
