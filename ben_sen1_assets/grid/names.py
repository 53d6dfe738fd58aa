"""BigEarthNet patch names (DOMAIN.md §3): build and parse v1 S1, v1 S2 and v2 S2 names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .patches import check_patch_index
from .tile import GridError

__all__ = [
    "PatchNameError",
    "S1PatchName",
    "S2v1PatchName",
    "S2v2PatchId",
    "s1_patch_name",
    "s2v1_patch_name",
    "s2v2_patch_id",
    "parse_s1_patch_name",
    "parse_s2v1_patch_name",
    "parse_s2v2_patch_id",
]


class PatchNameError(GridError):
    """A malformed BigEarthNet patch name."""


_S1_RE = re.compile(
    r"^(?P<mission>S1[AB])_IW_GRDH_1SDV_(?P<time>\d{8}T\d{6})_(?P<mgrs>\d{2}[C-HJ-NP-X][A-HJ-NP-Z][A-HJ-NP-V])"
    r"_(?P<x>\d{1,2})_(?P<y>\d{1,2})$"
)
# v1 S2: the hour can lack its leading zero (DOMAIN.md §3), so the time part is 5 or 6 digits
_S2V1_RE = re.compile(
    r"^(?P<prefix>(?P<mission>S2[AB])_MSIL2A_(?P<time>\d{8}T\d{5,6}))_(?P<x>\d{1,2})_(?P<y>\d{1,2})$"
)
_S2V2_RE = re.compile(
    r"^(?P<prefix>(?P<mission>S2[AB])_MSIL2A_(?P<time>\d{8}T\d{6})_N9999_R(?P<orbit>\d{3})"
    r"_T(?P<mgrs>\d{2}[C-HJ-NP-X][A-HJ-NP-Z][A-HJ-NP-V]))_(?P<x>\d{2})_(?P<y>\d{2})$"
)


@dataclass(frozen=True)
class S1PatchName:
    mission: str  # "S1A" | "S1B"
    start_time: datetime  # UTC start time of the S1 product the patch was cut from
    mgrs: str
    x: int
    y: int


@dataclass(frozen=True)
class S2v1PatchName:
    prefix: str  # e.g. "S2B_MSIL2A_20180502T093039" (kept verbatim: it may lack a leading 0)
    mission: str
    x: int
    y: int


@dataclass(frozen=True)
class S2v2PatchId:
    prefix: str  # e.g. "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
    mission: str
    sensing_time: datetime
    relative_orbit: int
    mgrs: str
    x: int
    y: int


def _xy(name: str, m: re.Match) -> tuple[int, int]:
    x, y = int(m["x"]), int(m["y"])
    try:
        check_patch_index(x, y)
    except GridError as exc:
        raise PatchNameError(f"patch name {name!r}: {exc}") from None
    return x, y


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        return t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc)


def s1_patch_name(mission: str, start_time: datetime, mgrs: str, x: int, y: int) -> str:
    """v1 S1 patch name ``{S1A|S1B}_IW_GRDH_1SDV_{YYYYMMDD}T{HHMMSS}_{MGRS}_{x}_{y}``.

    ``start_time`` is the start time of the S1 product (naive = UTC). ``mission`` may be any
    ``S1x`` (S1C/S1D produce names in the same pattern; the parser accepts only S1A/S1B, as in
    BigEarthNet v1).
    """
    if not re.fullmatch(r"S1[A-Z]", mission):
        raise PatchNameError(f"S1 mission {mission!r} invalid; expected 'S1A', 'S1B', ...")
    check_patch_index(x, y)
    return f"{mission}_IW_GRDH_1SDV_{_utc(start_time):%Y%m%dT%H%M%S}_{mgrs.upper()}_{x}_{y}"


def s2v1_patch_name(prefix: str, x: int, y: int) -> str:
    """v1 S2 patch name ``{prefix}_{x}_{y}`` (prefix from ``tile_names_and_links.csv``)."""
    check_patch_index(x, y)
    return f"{prefix}_{x}_{y}"


def s2v2_patch_id(v2_prefix: str, x: int, y: int) -> str:
    """v2 (reBEN) S2 patch id ``{v2_prefix}_{xx}_{yy}`` (zero-padded)."""
    check_patch_index(x, y)
    return f"{v2_prefix}_{x:02d}_{y:02d}"


def parse_s1_patch_name(name: str) -> S1PatchName:
    """Parse a v1 S1 patch name; :class:`PatchNameError` if malformed."""
    m = _S1_RE.match(name)
    if m is None:
        raise PatchNameError(
            f"S1 patch name {name!r} is malformed; expected "
            "'{S1A|S1B}_IW_GRDH_1SDV_{YYYYMMDD}T{HHMMSS}_{MGRS}_{x}_{y}'"
        )
    try:
        t = datetime.strptime(m["time"], "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        raise PatchNameError(f"S1 patch name {name!r}: invalid time {m['time']!r}") from None
    x, y = _xy(name, m)
    return S1PatchName(m["mission"], t, m["mgrs"], x, y)


def parse_s2v1_patch_name(name: str) -> S2v1PatchName:
    """Parse a v1 S2 patch name; :class:`PatchNameError` if malformed."""
    m = _S2V1_RE.match(name)
    if m is None:
        raise PatchNameError(
            f"S2 v1 patch name {name!r} is malformed; expected "
            "'{S2A|S2B}_MSIL2A_{YYYYMMDD}T{HHMMSS}_{x}_{y}'"
        )
    x, y = _xy(name, m)
    return S2v1PatchName(m["prefix"], m["mission"], x, y)


def parse_s2v2_patch_id(name: str) -> S2v2PatchId:
    """Parse a v2 (reBEN) S2 patch id; :class:`PatchNameError` if malformed."""
    m = _S2V2_RE.match(name)
    if m is None:
        raise PatchNameError(
            f"S2 v2 patch id {name!r} is malformed; expected "
            "'{S2A|S2B}_MSIL2A_{YYYYMMDDTHHMMSS}_N9999_R{orbit}_T{MGRS}_{xx}_{yy}'"
        )
    try:
        t = datetime.strptime(m["time"], "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        raise PatchNameError(f"S2 v2 patch id {name!r}: invalid time {m['time']!r}") from None
    x, y = _xy(name, m)
    return S2v2PatchId(m["prefix"], m["mission"], t, int(m["orbit"]), m["mgrs"], x, y)
