"""Layover and shadow masks on a synthetic ridge of known geometry, the mask bits in the chain."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window

from ben_sen1_assets.sar import masks
from ben_sen1_assets.sar.geocoding import GeometryModel
from ben_sen1_assets.sar.incidence import incidence_angles
from ben_sen1_assets.sar.terrain import halo_for, read_terrain_block

from .geometry_fixtures import ROME, annotation
from .terrain_fixtures import ground_range_axis, utm_grid, write_dem

H, HALF_WIDTH, BASE = 500.0, 300.0, 100.0  # ridge height and half-width (59° slopes), base height
N = 400


@pytest.fixture(scope="module")
def ridge(tmp_path_factory):
    """A straight ridge along azimuth (triangular profile in ground range u), in the middle of a
    4 km grid of the Rome scene (incidence ≈ 43.6°)."""
    geometry = GeometryModel.from_annotation(annotation(ROME))
    grid = utm_grid(12.6, 41.9, N)
    axis, direction = ground_range_axis(geometry, grid)
    xc, yc = grid.xy(N / 2 - 0.5, N / 2 - 0.5)

    def u_of(x, y):
        return (x - xc) * axis[0] + (y - yc) * axis[1]

    dem = write_dem(tmp_path_factory.mktemp("ridge") / "ridge.tif", grid,
                    lambda x, y: BASE + np.maximum(0.0, H * (1 - np.abs(u_of(x, y)) / HALF_WIDTH)))
    halo = halo_for(H + 200.0, direction, 10.0, 16)
    block = read_terrain_block(geometry, dem, grid, Window(0, 0, N, N), halo)
    u = u_of(*grid.xy(*np.mgrid[0:N, 0:N]))
    return block, direction, u


def _within(wrong: np.ndarray, u: np.ndarray, edges: list[float], px: float) -> bool:
    """Every wrong pixel lies within ``px`` pixels (10 m) of one of the analytic edges."""
    d = np.min([np.abs(u[wrong] - e) for e in edges], axis=0) if wrong.any() else np.zeros(0)
    return bool((d <= px * 10.0).all())


def test_layover_and_shadow_of_a_ridge(ridge):
    """Flat-earth geometry of a triangular ridge (slopes 59° > θ ≈ 43.6°, the error of the flat
    earth over 1 km is < 0.1 m): the slope facing the sensor is in active layover and folds onto
    flat ground nearer in range down to u = −H·cot θ and onto the far slope; the slope facing
    away is in active shadow, and the crest hides flat ground up to u = H·tan θ. Agreement but
    for the pixels within 1.5 px of an edge (pixel centres vs a continuous edge; range lines of
    the grid are straight lines at the mean range direction)."""
    block, direction, u = ridge
    bits = masks.layover_shadow(block, direction)
    _, ellipsoid = incidence_angles(block)
    theta = np.radians(np.median(ellipsoid))
    shadow_edges = [0.0, H * np.tan(theta)]
    expected_shadow = (u > shadow_edges[0]) & (u < shadow_edges[1])
    # slant-range coordinate (flat earth): v = u − h·cot θ; layover where v ∈ [v(crest), v(near foot)]
    h = np.maximum(0.0, H * (1 - np.abs(u) / HALF_WIDTH))
    v = u - h / np.tan(theta)
    expected_layover = (v >= -H / np.tan(theta)) & (v <= -HALF_WIDTH)
    # the layover ends on the far slope where v(u) = u − H (1 − u/w) cot θ comes back to −w
    cot = 1 / np.tan(theta)
    u_far = (H * cot - HALF_WIDTH) / (1 + H * cot / HALF_WIDTH)
    layover_edges = [-H * cot, -HALF_WIDTH, u_far]
    shadow = (bits & masks.SHADOW) > 0
    layover = (bits & masks.LAYOVER) > 0
    assert expected_shadow.sum() > 15_000 and expected_layover.sum() > 20_000
    assert _within(shadow != expected_shadow, u, shadow_edges, 1.5), np.unique(np.round(u[shadow != expected_shadow]))
    assert _within(layover != expected_layover, u, layover_edges, 1.5), np.unique(np.round(u[layover != expected_layover]))
    assert not (bits & ~np.uint8(masks.SHADOW | masks.LAYOVER)).any()


def test_mask_bits_named_by_polarisation():
    assert masks.mask_bits(("VV", "VH")) == {"shadow": 1, "layover": 2, "no_data": 4, "dem_filled": 8,
                                             "noise_vv": 16, "noise_vh": 32, "rtc_area_low": 64}
    assert "noise_vh" not in masks.mask_bits(("VV",))
    attrs = masks.cf_flag_attributes(masks.mask_bits(("HH", "HV")))
    assert attrs["flag_meanings"].split()[4:6] == ["noise_hh", "noise_hv"]
    assert list(attrs["flag_masks"]) == [1, 2, 4, 8, 16, 32, 64]


@pytest.mark.parametrize("representation", ["angle", "cosine"])
@pytest.mark.parametrize("direction", [(-0.12, -0.99), (0.3, 0.95), (0.0, 1.0), (0.9, -0.2), (-0.97, 0.25)])
def test_sweep_follows_the_lines_near_to_far_range(direction, representation):
    """The sweep kernel against the rule written out line by line: along each line of the grid in
    the range direction (row = q + round(col · dr/dc)), shadow where the look angle (float32) is
    below the largest seen nearer in range, layover where the GRD pixel is below the largest nearer
    or above the smallest farther; pixels without height skipped, without a GRD pixel not
    layover-tested. Given the look angles' cosines (float64) instead, the same bits, also where
    different cosines round to the same float32 angle."""
    rng = np.random.default_rng(4)
    H, W = 37, 53
    cos = np.cos(np.cumsum(rng.normal(0.01, 0.02, (H, W)), axis=1) + 0.6)
    cos[:, 1::3] = cos[:, 0:-1:3]  # equal neighbours, and neighbours only a few ulp apart:
    cos[:, 2::3] = np.nextafter(cos[:, 1::3][:, : cos[:, 2::3].shape[1]], 2.0)  # one float32 angle
    psi = np.arccos(cos).astype(np.float32)
    pixel = np.cumsum(rng.normal(1.0, 1.5, (H, W)), axis=1).astype(np.float32)
    cos[rng.random((H, W)) < 0.05] = np.nan
    psi[np.isnan(cos)] = np.nan
    pixel[rng.random((H, W)) < 0.05] = np.nan
    dr, dc = direction
    if abs(dr) > abs(dc):
        psi, cos, pixel, dr, dc = psi.T.copy(), cos.T.copy(), pixel.T.copy(), dc, dr
        H, W = W, H
    shifts = np.floor(np.arange(W) * (dr / dc) + 0.5).astype(np.int64)
    out = np.zeros((H, W), np.uint8)
    masks._sweep(pixel, cos if representation == "cosine" else psi, shifts, bool(dc < 0),
                 representation == "cosine", out)
    expected = np.zeros((H, W), np.uint8)
    for q in range(-shifts.max(), H - shifts.min()):
        cols = [j for j in range(W) if 0 <= q + shifts[j] < H]
        near_to_far = cols[::-1] if dc < 0 else cols
        run_p = run_psi = -np.inf
        for j in near_to_far:
            r = q + shifts[j]
            if np.isnan(psi[r, j]):
                continue
            if not np.isnan(pixel[r, j]):
                if pixel[r, j] < run_p:
                    expected[r, j] |= masks.LAYOVER
                run_p = max(run_p, pixel[r, j])
            if psi[r, j] < run_psi:
                expected[r, j] |= masks.SHADOW
            run_psi = max(run_psi, psi[r, j])
        run_p = np.inf
        for j in near_to_far[::-1]:
            r = q + shifts[j]
            if np.isnan(psi[r, j]) or np.isnan(pixel[r, j]):
                continue
            if pixel[r, j] > run_p:
                expected[r, j] |= masks.LAYOVER
            run_p = min(run_p, pixel[r, j])
    assert np.array_equal(out, expected)
    assert 0 < np.count_nonzero(out & masks.SHADOW) < out.size and np.count_nonzero(out & masks.LAYOVER) > 0


def test_nearest_flags_of_several_sources_in_one_pass():
    """Several (flags, source bit, bit) at once (the chain: noise per polarisation, terrain
    flattening's mask from the first) set the same bits as one call per source."""
    rng = np.random.default_rng(9)
    flags_vv = rng.integers(0, 4, (50, 60)).astype(np.uint8)
    flags_vh = rng.integers(0, 4, (50, 60)).astype(np.uint8)
    window = Window(100, 200, 60, 50)
    line = rng.uniform(195, 255, (30, 40)).astype(np.float32)
    pixel = rng.uniform(95, 165, (30, 40)).astype(np.float32)
    line[:3] = np.nan
    sources = [(flags_vv, 1, masks.NOISE_FIRST), (flags_vh, 1, masks.NOISE_SECOND), (flags_vv, 2, masks.RTC_AREA_LOW)]
    one = np.full((30, 40), masks.SHADOW, np.uint8)
    masks.add_nearest_flags_of(one, sources, window, line, pixel)
    separate = np.full((30, 40), masks.SHADOW, np.uint8)
    for flags, source_bit, bit in sources:
        masks.add_nearest_flags(separate, flags, window, line, pixel, source_bit, bit)
    assert np.array_equal(one, separate)
    for bit in (masks.NOISE_FIRST, masks.NOISE_SECOND, masks.RTC_AREA_LOW):
        assert 0 < np.count_nonzero(one & bit) < one.size
    with pytest.raises(ValueError, match="two flag arrays"):
        masks.add_nearest_flags_of(one, [*sources, (flags_vv.copy(), 1, 128)], window, line, pixel)


def test_off_the_image_nothing_is_computed_and_nothing_on_it_changes(ridge):
    """Given the GRD image's shape, the geometry is computed only within the halo's reach of the
    imaged pixels. With the image's near-range edge on the ridge's far slope (its GRD pixel
    coordinates shifted), the crest off the image still hides the imaged flat ground beyond the
    foot: the layover/shadow bits and the incidence angle of every imaged pixel are those
    computed without the edge, bit for bit (a reach of 1 px instead of the halo loses thousands
    of shadow bits); the angle is NaN off the image, and far off it nothing is computed (NaN look
    angles)."""
    import dataclasses

    from ben_sen1_assets.sar.incidence import block_angles

    block, direction, u = ridge
    lia_all, _, cos_all = block_angles(block, ellipsoid=False, look="cosine")
    bits_all = masks.layover_shadow(block, direction, look_cosine=cos_all)
    edge = float(np.median(block.inner(block.pixel)[np.abs(u - 200.0) < 5.0]))  # the far slope
    block = dataclasses.replace(block, pixel=block.pixel - np.float32(edge))  # the image starts there
    shape = (int(np.nanmax(block.line)) + 10, 10**6)
    lia, _, cos = block_angles(block, ellipsoid=False, look="cosine", image_shape=shape)
    bits = masks.layover_shadow(block, direction, look_cosine=cos)
    line, pixel = block.inner(block.line), block.inner(block.pixel)
    on = (line > -1) & (line < shape[0]) & (pixel > -1) & (pixel < shape[1])
    assert 0.2 < on.mean() < 0.8 and (bits_all[on & (u > HALF_WIDTH)] & masks.SHADOW).sum() > 1000
    np.testing.assert_array_equal(bits[on], bits_all[on])
    np.testing.assert_array_equal(lia[on], lia_all[on])
    assert np.isnan(lia[~on]).all() and np.isfinite(lia_all).all()
    assert np.isnan(cos).mean() > 0.1 and not np.isnan(cos_all).any()
