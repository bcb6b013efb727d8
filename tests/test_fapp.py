"""FAPP: the batched torch version against the original per-frame scipy algorithm (fapp.reference_fapp)."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch

from hdtf.modeling.fapp import (
    construct_fapp,
    construct_fapp_references,
    flow_to_color,
    identity_grid,
    reference_fapp,
)


def face_layout(size: int) -> np.ndarray:
    """A 68-point landmark layout (jaw, brows, nose, eyes, lips) at integer pixels, mouth closed."""
    s = size / 512
    jaw = [(256 + 150 * np.sin(t), 250 + 160 * np.cos(t)) for t in np.linspace(-np.pi / 2, np.pi / 2, 17)][::-1]
    brows = [(150 + 25 * i, 200 - 10 * np.sin(i * np.pi / 4)) for i in range(5)] + [
        (262 + 25 * i, 200 - 10 * np.sin(i * np.pi / 4)) for i in range(5)
    ]
    nose = [(256, 230 + 20 * i) for i in range(4)] + [(226 + 15 * i, 320 - 5 * (i in (0, 4))) for i in range(5)]

    def eye(cx: float) -> list[tuple[float, float]]:
        return [(cx + 30 * np.cos(t), 245 + 12 * np.sin(t)) for t in np.linspace(np.pi, 3 * np.pi, 7)[:6]]

    outer = [(256 + 60 * np.cos(t), 380 + 25 * np.sin(t)) for t in np.linspace(np.pi, 3 * np.pi, 13)[:12]]
    inner = [(216, 380), (236, 380), (256, 380), (276, 380), (296, 380), (276, 380), (256, 380), (236, 380)]
    points = np.array(jaw + brows + nose + eye(196) + eye(316) + outer + inner, dtype=np.float64)
    assert points.shape == (68, 2)
    return np.round(points * s)


def _frames(size: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = face_layout(size)
    driving = np.round(base[None] + rng.normal(0, 2.5 * size / 512, (count, 68, 2)))
    driving[:, 60:68] = base[60:68]  # closed inner lips: coincident points whose motions differ
    reference = base + rng.normal(0, 1.5, base.shape)
    return reference, driving


@pytest.mark.parametrize("size", [128, 100])
def test_nearest_is_identical_to_scipy_on_landmarks(size):
    reference, driving = _frames(size, 4, seed=size)
    expected = reference_fapp(reference, driving, size)
    got = construct_fapp(torch.from_numpy(reference), torch.from_numpy(driving), size)
    assert got.shape == (4, size, size, 2) and got.dtype == torch.float64
    np.testing.assert_array_equal(got.numpy(), expected)


def test_nearest_full_size_batch_float64_and_float32():
    """The benchmark's shape class: big enough for the huge-page result buffer and several chunks of mixed leaves."""
    size = 512
    reference, driving = _frames(size, 8, seed=5)
    expected = reference_fapp(reference, driving, size)
    got = construct_fapp(torch.from_numpy(reference), torch.from_numpy(driving), size)
    assert got.shape == (8, size, size, 2) and got.is_contiguous()
    np.testing.assert_array_equal(got.numpy(), expected)
    ref32, drv32 = torch.from_numpy(reference).float(), torch.from_numpy(driving).float()
    got32 = construct_fapp(ref32, drv32, size)
    assert got32.dtype == torch.float32  # = the float64 result for the same (float32) points, rounded once
    np.testing.assert_array_equal(got32.numpy(), construct_fapp(ref32.double(), drv32.double(), size).float().numpy())
    del got32, ref32, drv32
    gc.collect()
    np.testing.assert_array_equal(got.numpy(), expected)  # the result's memory lives as long as the tensor


def test_all_rows_torso_and_points_outside_image():
    """Lowest driving point above row 1: every row is torso. Points outside the image still drive the flow."""
    size = 40
    rng = np.random.default_rng(2)
    reference = rng.uniform(0, size, (12, 2))
    top = np.concatenate([rng.uniform(-10, size + 10, (2, 12, 1)), rng.uniform(-5, 0.9, (2, 12, 1))], axis=-1)
    outside = rng.uniform(-0.5 * size, 1.5 * size, (2, 12, 2))
    driving = np.concatenate([top, outside])
    np.testing.assert_array_equal(construct_fapp(reference, driving, size).numpy(), reference_fapp(reference, driving, size))


def test_tie_break_matters_and_follows_scipy():
    """Coincident driving points with different motions: lowest-index argmin would disagree with scipy somewhere."""
    size = 96
    reference, driving = _frames(size, 2, seed=3)
    drv = driving / size * 2 - 1
    axis = np.linspace(-1, 1, size)
    gx, gy = np.meshgrid(axis, axis)
    dist = (gx[None, :, :, None] - drv[:, None, None, :, 0]) ** 2 + (
        gy[None, :, :, None] - drv[:, None, None, :, 1]
    ) ** 2
    naive = (reference / size * 2 - 1)[None] - drv
    naive_flow = np.take_along_axis(naive, dist.reshape(2, -1, 68).argmin(-1)[..., None], axis=1)
    expected = reference_fapp(reference, driving, size)
    rows = np.arange(size)[None, :, None] < driving[:, :, 1].max(1).astype(int)[:, None, None]
    naive_grid = naive_flow.reshape(2, size, size, 2) + np.stack([gx, gy], -1)
    assert ((naive_grid != expected).any(-1) & rows).any(), "layout has no consequential ties: test would be vacuous"
    got = construct_fapp(reference, torch.from_numpy(driving), size).numpy()
    np.testing.assert_array_equal(got, expected)


def test_nearest_random_points_and_broadcast_reference():
    rng = np.random.default_rng(7)
    size = 64
    reference = rng.uniform(0, size, (30, 2))
    driving = rng.uniform(0, size * 0.8, (3, 30, 2))
    expected = reference_fapp(reference, driving, size)
    batched_ref = torch.from_numpy(np.repeat(reference[None], 3, axis=0))
    np.testing.assert_array_equal(construct_fapp(batched_ref, torch.from_numpy(driving), size).numpy(), expected)
    np.testing.assert_array_equal(construct_fapp(reference, driving, size).numpy(), expected)


def test_linear_matches_scipy_triangulation():
    size = 80
    reference, driving = _frames(size, 2, seed=11)
    expected = reference_fapp(reference, driving, size, method="linear")
    got = construct_fapp(reference, driving, size, method="linear").numpy()
    np.testing.assert_allclose(got, expected, atol=1e-9)
    nearest = construct_fapp(reference, driving, size).numpy()
    assert np.abs(got - nearest).max() > 1e-3


def test_dtype_device_and_identity():
    points = torch.from_numpy(face_layout(64)).float()
    grid = construct_fapp(points, points[None].repeat(2, 1, 1), 64)
    assert grid.dtype == torch.float32 and grid.shape == (2, 64, 64, 2)
    torch.testing.assert_close(grid, identity_grid(64)[None].expand(2, -1, -1, -1), rtol=0, atol=1e-7)
    assert identity_grid(5)[0, :, 0].tolist() == np.linspace(-1, 1, 5).tolist()


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="driving_points"):
        construct_fapp(np.zeros((5, 2)), np.zeros((2, 5, 3)), 32)
    with pytest.raises(ValueError, match="points"):
        construct_fapp(np.zeros((4, 2)), np.zeros((2, 5, 2)), 32)
    with pytest.raises(ValueError, match="method"):
        construct_fapp(np.zeros((5, 2)), np.zeros((1, 5, 2)), 32, method="cubic")


def test_flow_to_color():
    grid = identity_grid(16, dtype=torch.float64).clone()
    assert flow_to_color(grid).max() == 0
    grid[..., 0] += 0.1  # samples from the right everywhere: displacement +x -> red hue, full brightness
    picture = flow_to_color(grid)
    assert picture.shape == (16, 16, 3) and picture.dtype == np.uint8
    assert picture[0, 0].tolist() == [255, 0, 0]
    assert flow_to_color(grid[None].repeat(2, 1, 1, 1)).shape == (2, 16, 16, 3)


def _awkward_points(kind: str, size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Driving points (2, count, 2) that stress the scan-line geometry's special cases."""
    if kind == "duplicates":  # coarse integer lattice: many coincident points and equal coordinates
        return rng.integers(0, max(size // 4, 2), (2, count, 2)).astype(np.float64) * 4
    if kind == "outside":
        return rng.uniform(-size, 2 * size, (2, count, 2))
    if kind == "collinear":  # Qhull cannot build a diagram: every row is computed exactly
        start, step = np.round(rng.uniform(0, size, (2, 1, 2))), np.round(rng.uniform(-4, 4, (2, 1, 2)))
        return start + step * rng.integers(-5, 5, (2, count, 1))
    if kind == "torso":  # lowest point above the image: int(y) <= 0, the original's slice then counts from the end
        return np.concatenate([rng.uniform(-10, size + 10, (2, count, 1)), rng.uniform(-5, 0.9, (2, count, 1))], -1)
    if kind == "mirrored":  # symmetric, even-pixel layouts: many exact ties on the lattice
        points = np.round(rng.uniform(0, size, (2, count, 2)) / 2) * 2
        points[:, : count // 2] = points[:, count - count // 2 :][:, : count // 2]
        return points
    return rng.uniform(0, size, (2, count, 2))


@pytest.mark.parametrize("kind", ["uniform", "duplicates", "outside", "collinear", "torso", "mirrored"])
def test_nearest_awkward_inputs_match_scipy(kind):
    rng = np.random.default_rng(len(kind))
    for size, count in [(1, 3), (2, 1), (3, 2), (7, 4), (33, 8), (64, 20), (99, 68), (300, 68)]:
        driving = _awkward_points(kind, size, count, rng)
        reference = rng.uniform(0, size, (count, 2))
        expected = reference_fapp(reference, driving, size)
        got = construct_fapp(reference, torch.from_numpy(driving), size)
        np.testing.assert_array_equal(got.numpy(), expected, err_msg=f"{kind} size {size} points {count}")
        ref32, drv32 = torch.from_numpy(reference).float(), torch.from_numpy(driving).float()
        exact32 = reference_fapp(ref32.double().numpy(), drv32.double().numpy(), size)
        np.testing.assert_array_equal(construct_fapp(ref32, drv32, size).numpy(), exact32.astype(np.float32))


def test_random_scatter_full_size_is_exact():
    """The benchmark's random-scatter case: steep Voronoi ridges that run far outside the image (issue 25)."""
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 512, (5, 68, 2))
    reference, driving = points[0], points[1:]
    expected = reference_fapp(reference, driving, 512)
    np.testing.assert_array_equal(construct_fapp(reference, driving, 512).numpy(), expected)


@pytest.mark.parametrize("method", ["nearest", "linear"])
def test_references_share_the_driving_frame_work_and_match_one_by_one(method):
    """Several references per driving frame: grid [b, r] is the single-reference grid of reference r, bit for bit."""
    size = 96
    reference, driving = _frames(size, 3, seed=13)
    rng = np.random.default_rng(1)
    references = np.stack([reference, reference + rng.normal(0, 2, reference.shape), face_layout(size)])
    grids = construct_fapp_references(references, torch.from_numpy(driving), size, method=method)
    assert grids.shape == (3, 3, size, size, 2) and grids.dtype == torch.float64
    for r in range(3):
        expected = reference_fapp(references[r], driving, size, method=method)
        if method == "nearest":
            np.testing.assert_array_equal(grids[:, r].numpy(), expected)
        else:
            np.testing.assert_allclose(grids[:, r].numpy(), expected, atol=1e-9)
    per_frame = np.repeat(references[None], 3, axis=0)  # (B, R, N, 2): other references for every frame
    again = construct_fapp_references(per_frame, driving, size, method=method)
    np.testing.assert_array_equal(again.numpy(), grids.numpy())
    f32 = construct_fapp_references(torch.from_numpy(references).float(), torch.from_numpy(driving).float(), size)
    assert f32.dtype == torch.float32 and f32.shape == grids.shape
    with pytest.raises(ValueError, match="reference_points"):
        construct_fapp_references(references[0, :, 0], driving, size)


def test_crossings_order_row_major_for_small_and_huge_batches():
    """The 16-bit radix ordering of crossings and the fallback for batches of more than 65536 rows agree with lexsort."""
    from hdtf.modeling.fapp import _row_major

    rng = np.random.default_rng(4)
    for rows, size in [(3, 5), (25 * 512, 512), (70_000, 512)]:
        row, col = rng.integers(0, rows, 5000), rng.integers(0, size, 5000)
        order = _row_major(row, col, rows, size)
        np.testing.assert_array_equal(order, np.lexsort((col, row)))  # both stable, so the same permutation
