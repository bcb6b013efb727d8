"""FAPP: sparse landmark motion -> dense sampling grid for ``grid_sample`` (facial animation parameter projection).

The original built the dense flow one frame at a time with ``scipy.interpolate.griddata(method="nearest")`` over a
512x512 grid, then overwrote every row below the driving face with the mean motion (so neck and torso move rigidly).
``construct_fapp(method="nearest")`` returns bit-identical values, batched and on any device, by scan lines: along a
pixel row the nearest point changes only where a Voronoi ridge crosses the row, so each row is its exact first label
plus a running sum of the label changes at the crossings (Qhull's diagram of each frame's distinct points; all rows
of all ridges of all frames at once, since per-frame numpy calls cost more than their arithmetic). Only what rounding could get wrong is recomputed exactly with scipy's distance formula: pixels within
1e-7 of a crossing, rows within 1e-7 of a Voronoi vertex or a ridge parallel to the rows, rows whose chain of changes
does not end on their exact last label, the cells of coincident points, and frames Qhull cannot handle (collinear,
fewer than three points). Exact distance ties between points whose motions differ are resolved by scipy's own
KD-tree: the tie-break is scipy's.

On the CPU each run's motion is repeated along it and added to the identity grid, frame by frame (on another device
a label map is gathered there in cache-sized bands). At
25 frames of 512x512 the float64 result is 100 MB, so it lives in transparent huge pages where Linux offers them
(faulting it in 4 KiB pages took longer than computing it).
"""

from __future__ import annotations

import functools
import math
import mmap
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

__all__ = ["construct_fapp", "construct_fapp_references", "identity_grid", "flow_to_color", "reference_fapp"]

# Results at least this large get huge pages (see _fresh_buffer).
_HUGE_PAGE_MIN_BYTES = 1 << 24
# Doubtful rows are recomputed exactly this many at a time, so the (pixels, sites) distances stay small.
_ROW_CHUNK = 16
# Geometry closer than this (relative) to a pixel centre or row is not trusted to the rounding of Qhull and numpy.
_GEOM_EPS = 1e-7
# Frames at a time when finding each row's first and last label (keeps the distances in cache).
_EDGE_FRAMES = 4
# Rows per band when gathering motions into the result.
_FILL_ROWS = 64
# Relative gap below which two squared distances count as tied: far above float64 rounding of the distances
# (~1e-16 relative), far below any real separation between landmarks.
_TIE_RTOL = 1e-12


def _linspace(size: int, device: torch.device) -> torch.Tensor:
    """``np.linspace(-1, 1, size)`` bit for bit (i * step + start, last = stop); torch.linspace rounds differently."""
    if size == 1:
        return torch.full((1,), -1.0, dtype=torch.float64, device=device)
    values = torch.arange(size, dtype=torch.float64, device=device) * (2.0 / (size - 1)) - 1.0
    values[-1] = 1.0
    return values


def identity_grid(
    size: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, width: int | None = None
) -> torch.Tensor:
    """The no-motion sampling grid (size, width or size, 2), x then y, on the original's ``linspace(-1, 1)`` lattice."""
    device = torch.device(device)
    ys = _linspace(size, device)
    xs = ys if width is None or width == size else _linspace(width, device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1).to(dtype)


def _as_batched(points: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(points)
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 3 or tensor.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (N, 2) or (B, N, 2), got {tuple(tensor.shape)}")
    return tensor


def _exact_nearest(
    sites: np.ndarray, positions: np.ndarray, axis: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest site of each pixel over all sites of its frame, as scipy forms distances, and whether it is (nearly)
    tied. ``sites`` (B, N, 2); ``positions`` flat indices frame * S * S + row * S + col."""
    size = axis.shape[0]
    labels, unclear = np.zeros(len(positions), np.int64), np.zeros(len(positions), bool)
    if sites.shape[1] == 1:
        return labels, unclear
    step = _ROW_CHUNK * size
    for start in range(0, len(positions), step):  # chunks keep the (pixels, sites) distances small
        part = positions[start : start + step]
        frame, pixel = np.divmod(part, size * size)
        near = sites[frame]
        dx = axis[pixel % size][:, None] - near[:, :, 0]
        dy = axis[pixel // size][:, None] - near[:, :, 1]
        dist = dx * dx + dy * dy
        two = np.partition(dist, 1, axis=1)[:, :2]
        labels[start : start + step] = dist.argmin(axis=1)
        unclear[start : start + step] = two[:, 0] >= two[:, 1] * (1 - _TIE_RTOL)
    return labels, unclear


def _distinct(sites: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``np.unique(sites, axis=0, return_index=True, return_inverse=True)``, with ``None`` for the inverse when no two
    sites coincide (the usual case, several times cheaper than ``np.unique``'s row sort)."""
    order = np.lexsort((sites[:, 1], sites[:, 0]))
    ordered = sites[order]
    if (ordered[1:] != ordered[:-1]).any(axis=1).all():
        return ordered, order, None
    distinct, first_index, inverse = np.unique(sites, axis=0, return_index=True, return_inverse=True)
    return distinct, first_index, inverse.reshape(-1)


def _voronoi_ridges(sites: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Qhull's Voronoi diagram of distinct ``sites``: (ridge site pairs (K, 2), ridge vertex indices (K, 2), -1 for
    an unbounded end, vertices), or None when it cannot be built (fewer than three sites, all collinear)."""
    from scipy.spatial import QhullError, Voronoi

    if sites.shape[0] < 3:
        return None
    try:
        vor = Voronoi(sites)
    except QhullError:
        return None
    return vor.ridge_points, np.asarray(vor.ridge_vertices).reshape(-1, 2), vor.vertices


class _Ridges(NamedTuple):
    """The Voronoi ridges of every frame's distinct driving points, concatenated over the batch."""

    frame: np.ndarray  # (K,) frame of each ridge
    sites: np.ndarray  # (K, 2) the two sites (indices among the frame's points) the ridge separates
    ends: np.ndarray  # (K, 2) y of its two vertices (meaningless where unbounded)
    unbounded: np.ndarray  # (K, 2) whether that end runs to infinity
    centroid: np.ndarray  # (B, 2) mean of each frame's distinct points (tells a ray's direction)
    vert_eps: np.ndarray  # (B,) rounding margin of each frame's vertices
    shared: np.ndarray  # (B, N) points that coincide with another of their frame
    no_diagram: np.ndarray  # (B,) frames Qhull cannot handle: every row is computed exactly


def _batch_ridges(sites: np.ndarray, limits: np.ndarray) -> _Ridges:
    """One Qhull call per frame with labelled rows; everything else about the ridges is left to batched numpy."""
    batch, num_sites, _ = sites.shape
    frames, pairs, ys, ends = [], [], [], []
    centroid, vert_eps = np.zeros((batch, 2)), np.zeros(batch)
    shared, no_diagram = np.zeros((batch, num_sites), bool), np.zeros(batch, bool)
    for frame in np.flatnonzero(limits).tolist():
        distinct, first_index, inverse = _distinct(sites[frame])
        if inverse is not None:
            shared[frame] = np.bincount(inverse, minlength=len(distinct))[inverse] > 1
        diagram = _voronoi_ridges(distinct)
        if diagram is None:
            no_diagram[frame] = True
            continue
        ridge_sites, ridge_verts, verts = diagram
        frames.append(np.full(len(ridge_sites), frame))
        pairs.append(first_index[ridge_sites])
        ys.append(verts[ridge_verts, 1])
        ends.append(ridge_verts)
        centroid[frame] = distinct.mean(axis=0)
        vert_eps[frame] = _GEOM_EPS * (1 + np.abs(verts).max(initial=0.0))
    if not frames:
        empty = np.zeros((0, 2), np.int64)
        return _Ridges(np.zeros(0, np.int64), empty, empty.astype(float), empty.astype(bool), centroid, vert_eps,
                       shared, no_diagram)
    ends = np.concatenate(ends)
    return _Ridges(np.concatenate(frames), np.concatenate(pairs), np.concatenate(ys), ends < 0, centroid, vert_eps,
                   shared, no_diagram)


def _ridge_crossings(
    ridges: _Ridges, sites: np.ndarray, axis: np.ndarray, limits: np.ndarray, bad: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where each Voronoi ridge crosses each labelled pixel row of its frame, for the whole batch at once.

    Rows are batch rows (frame * S + row). Returns (row, col, change, flagged pixels as flat positions): ``col`` is
    the first column right of the crossing and ``change`` the label right of it minus the label left of it; ridges
    parallel to the rows never change a label within a row. Crossings within rounding of a pixel centre flag that
    pixel; rows within rounding of a Voronoi vertex, of a horizontal ridge or of column 0 are set in ``bad`` and
    recomputed exactly.
    """
    size = axis.shape[0]
    frame, pairs = ridges.frame, ridges.sites
    s_i, s_j = sites[frame, pairs[:, 0]], sites[frame, pairs[:, 1]]
    t = s_j - s_i
    first = np.where(ridges.unbounded[:, 0], ridges.ends[:, 1], ridges.ends[:, 0])
    second = np.where(ridges.unbounded[:, 1], ridges.ends[:, 0], ridges.ends[:, 1])
    ylo, yhi = np.minimum(first, second), np.maximum(first, second)
    normal = np.stack([-t[:, 1], t[:, 0]], axis=1)
    outward = np.sign((((s_i + s_j) / 2 - ridges.centroid[frame]) * normal).sum(axis=1)) * t[:, 0]  # ray's y sense
    unbounded = ridges.unbounded.any(axis=1)
    ylo = np.where(unbounded & (outward < 0), -np.inf, ylo)
    yhi = np.where(unbounded & (outward > 0), np.inf, yhi)
    flat = t[:, 0] == 0
    doubtful = np.concatenate([ylo, yhi, (s_i + s_j)[flat, 1] / 2])
    owner = np.concatenate([frame, frame, frame[flat]])
    finite = np.isfinite(doubtful)
    doubtful, owner = doubtful[finite], owner[finite]
    margin, base, limit = ridges.vert_eps[owner], owner * size, limits[owner]
    enter = base + np.minimum(np.searchsorted(axis, doubtful - margin), limit)
    leave = base + np.minimum(np.searchsorted(axis, doubtful + margin), limit)
    cover = np.bincount(enter, minlength=len(bad) + 1) - np.bincount(leave, minlength=len(bad) + 1)
    bad |= np.cumsum(cover[: len(bad)]) > 0
    keep = ~flat
    frame, pairs, s_i, s_j, t, ylo, yhi = frame[keep], pairs[keep], s_i[keep], s_j[keep], t[keep], ylo[keep], yhi[keep]
    offset = ((s_j * s_j).sum(axis=1) - (s_i * s_i).sum(axis=1)) / (2 * t[:, 0])
    slope = t[:, 1] / t[:, 0]
    ylo, yhi = _rows_over_image(offset, slope, ylo, yhi, size)
    margin, limit = ridges.vert_eps[frame], limits[frame]
    low = np.minimum(np.searchsorted(axis, ylo + margin), limit)
    high = np.minimum(np.searchsorted(axis, yhi - margin), limit)
    count = np.maximum(high - low, 0)
    row = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count - low, count)  # per crossing (ridge-major)
    x = np.repeat(offset, count) - np.repeat(slope, count) * axis[row]
    reach = np.repeat(_GEOM_EPS * (1 + np.abs(offset) + np.abs(slope)) * size, count)
    row += np.repeat(frame * size, count)
    # Column coordinate of the crossing; the linspace lattice is within a few ulps of -1 + col * step.
    u = (x + 1) * ((size - 1) / 2)
    col = np.ceil(u).astype(np.int64)
    lo_col = np.ceil(u - reach).astype(np.int64)
    hi_col = np.floor(u + reach).astype(np.int64) + 1
    bad[row[(lo_col <= 0) & (hi_col > 0)]] = True  # crossing at column 0: row-start label and chain could disagree
    in_image = (hi_col > 0) & (lo_col < size)  # doubtful columns reach the image (steep ridges run far outside it)
    near = (hi_col > lo_col) & in_image
    bad[row[(hi_col > lo_col + 1) & in_image]] = True  # ill-conditioned ridge: more than one doubtful pixel
    flagged = row[near] * size + np.clip(lo_col[near], 0, size - 1)
    change = np.where(t[:, 0] > 0, 1, -1) * (pairs[:, 1] - pairs[:, 0])  # right site minus left site
    inside = (col > 0) & (col < size)
    return row[inside], col[inside], np.repeat(change, count)[inside], flagged


def _row_major(row: np.ndarray, col: np.ndarray, rows: int, size: int) -> np.ndarray:
    """The stable order of crossings by (row, col): where both fit 16 bits, two radix sorts (numpy sorts 16-bit keys
    stably in linear time), several times faster than a comparison sort of the flat positions."""
    if rows <= 1 << 16 and size <= 1 << 16:
        by_col = np.argsort(col.astype(np.uint16), kind="stable")
        return by_col[np.argsort(row[by_col].astype(np.uint16), kind="stable")]
    return np.argsort(row * size + col, kind="stable")


def _segments(
    row: np.ndarray, col: np.ndarray, change: np.ndarray, first_label: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Runs of one label along the rows: (flat start position, label) in position order.

    Every row opens a run at column 0 with its ``first_label``; every crossing (row, col) opens one whose label is
    the previous run's plus ``change`` (crossings at the same pixel add up, the last of them holds).
    """
    rows = len(first_label)
    order = _row_major(row, col, rows, size)
    row = row[order]
    position, total = row * size + col[order], np.cumsum(change[order])
    first = np.searchsorted(row, np.arange(rows))  # each row's first crossing
    before = np.concatenate([[0], total])[first]  # the running sum up to the row
    starts = np.empty(rows + len(position), np.int64)
    labels = np.empty(rows + len(position), np.int64)
    opening = first + np.arange(rows)
    starts[opening], labels[opening] = np.arange(rows) * size, first_label
    crossing = np.arange(len(position)) + row + 1
    starts[crossing], labels[crossing] = position, first_label[row] + total - before[row]
    return starts, labels


def _rows_over_image(
    offset: np.ndarray, slope: np.ndarray, ylo: np.ndarray, yhi: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The y range of each ridge ``x = offset - slope * y`` narrowed to where it lies over the image's columns.

    A crossing left of column 0 changes nothing (each row starts from its exact first label), one right of the last
    column is never reached, so only crossings within a margin of two pixels are kept: steep ridges of scattered
    points otherwise cross hundreds of rows far outside the image.
    """
    span = 1 + 4 / max(size - 1, 1)
    steep = slope != 0
    safe = np.where(steep, slope, 1.0)
    ends = np.stack([(offset - span) / safe, (offset + span) / safe])
    over = np.abs(offset) <= span  # slope 0: a vertical ridge, over the image on every row or on none
    low = np.where(steep, ends.min(axis=0), np.where(over, -np.inf, np.inf))
    high = np.where(steep, ends.max(axis=0), np.where(over, np.inf, -np.inf))
    return np.maximum(ylo, low), np.minimum(yhi, high)


def _edge_labels(sites: np.ndarray, axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact nearest site (argmin, as scipy forms distances) of the first and the last pixel of every batch row.

    A few frames at a time into reused buffers: the (rows, sites) distances of a whole batch would leave the cache.
    """
    batch, num_sites, _ = sites.shape
    size = axis.shape[0]
    first, final = np.empty((batch, size), np.int64), np.empty((batch, size), np.int64)
    left, right = (axis[0] - sites[:, None, :, 0]) ** 2, (axis[-1] - sites[:, None, :, 0]) ** 2
    across, dist = np.empty((_EDGE_FRAMES, size, num_sites)), np.empty((_EDGE_FRAMES, size, num_sites))
    for start in range(0, batch, _EDGE_FRAMES):
        part = slice(start, start + _EDGE_FRAMES)
        count = len(first[part])
        np.square(np.subtract(axis[None, :, None], sites[part, None, :, 1], out=across[:count]), out=across[:count])
        first[part] = np.add(left[part], across[:count], out=dist[:count]).argmin(axis=2)
        final[part] = np.add(right[part], across[:count], out=dist[:count]).argmin(axis=2)
    return first.reshape(-1), final.reshape(-1)


def _batch_labels(
    sites: np.ndarray, axis: np.ndarray, limits: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The nearest-site label of every pixel of every frame, as runs over the flattened batch plus exact fixes.

    ``sites`` (B, N, 2); frame b is labelled in its first ``limits[b]`` rows, the rows below take label N (the mean
    motion). Returns (run starts as flat positions frame * S * S + row * S + col, run labels, fixed positions, their
    labels, (frame, row, col, label) of the (near-)tied fixed pixels for scipy's tie-break); a fixed pixel's label
    replaces its run's. Scan lines: the label changes only where a Voronoi ridge crosses the row, so each row is its
    exact first label, then a running sum of the changes at the crossings. Pixels the rounding of a crossing could put
    on either side, whole doubtful rows and the cells of coincident sites are recomputed exactly. Only Qhull runs
    frame by frame; the rest is numpy over all rows of all frames at once, since per-frame calls cost more than the
    arithmetic.
    """
    batch, num_sites, _ = sites.shape
    size = axis.shape[0]
    valid = (np.arange(size)[None] < limits[:, None]).reshape(-1)  # labelled batch rows
    ridges = _batch_ridges(sites, limits)
    bad = np.zeros(batch * size, bool)
    row, col, change, flagged = _ridge_crossings(ridges, sites, axis, limits, bad)
    first, final = _edge_labels(sites, axis)
    starts, run = _segments(row, col, change, np.where(valid, first, num_sites), size)
    lengths = np.diff(starts, append=batch * size * size)
    run_row = starts // size
    labelled = valid[run_row] & (lengths > 0)
    outside = ((run < 0) | (run >= num_sites)) & labelled  # crossings at one pixel pass through any sum
    bad[run_row[outside]] = True  # a label no site has: the chain is broken, redo the row
    rows = np.flatnonzero(valid)
    frame, local = np.divmod(rows, size)
    last = np.clip(run[np.searchsorted(starts, (rows + 1) * size) - 1], 0, num_sites - 1)
    end_d = (axis[-1] - sites[frame, last, 0]) ** 2 + (axis[local] - sites[frame, last, 1]) ** 2
    best = final[rows]
    best_d = (axis[-1] - sites[frame, best, 0]) ** 2 + (axis[local] - sites[frame, best, 1]) ** 2
    bad[rows[end_d > best_d * (1 + 4 * _TIE_RTOL)]] = True  # a broken chain of crossings: redo the row
    bad |= np.repeat(ridges.no_diagram, size)
    bad &= valid
    fixes = [flagged]
    if ridges.shared.any():  # the cells of coincident sites: every pixel of their segments
        hit = ridges.shared[run_row // size, np.clip(run, 0, num_sites - 1)] & ~outside & labelled
        begin, count = starts[hit], lengths[hit]
        fixes.append(np.repeat(begin - np.cumsum(count) + count, count) + np.arange(count.sum()))
    redo = np.flatnonzero(bad)
    fixes.append((redo[:, None] * size + np.arange(size)).reshape(-1))
    run = np.where(valid[run_row], np.clip(run, 0, num_sites - 1), run)  # redone rows: any site will do
    fixed = np.concatenate(fixes)
    label, unclear = _exact_nearest(sites, fixed, axis)
    tied = fixed[unclear]
    ambiguous = np.stack([tied // (size * size), tied // size % size, tied % size, label[unclear]], 1)
    return starts, run, fixed, label, ambiguous


def _break_ties_like_scipy(
    ambiguous: np.ndarray, sites: np.ndarray, values: np.ndarray, axis: np.ndarray
) -> np.ndarray:
    """Rows (frame, row, col, label) of the (near-)tied pixels whose label must change to the one scipy picks.

    ``values`` (B, R, N, 2) are the motions of every reference. Only pixels where the tied sites' motions differ (for
    any reference) are asked of scipy's own ``NearestNDInterpolator``; its pick depends on the driving points alone,
    so one answer serves every reference. numpy, not torch: torch would wake its thread pool for these few pixels.
    """
    from scipy.interpolate import NearestNDInterpolator

    b, row, col, label = ambiguous.T
    dist = (axis[col][:, None] - sites[b, :, 0]) ** 2 + (axis[row][:, None] - sites[b, :, 1]) ** 2
    tied = dist <= dist.min(axis=1, keepdims=True) * (1 + 4 * _TIE_RTOL)
    motions = values.transpose(0, 2, 1, 3).reshape(*sites.shape[:2], -1)  # (B, N, R * 2)
    differs = (tied & (motions[b] != motions[b, label][:, None, :]).any(-1)).any(axis=1)
    where = ambiguous[differs]
    for frame in np.unique(where[:, 0]).tolist():
        sel = where[:, 0] == frame
        pick = NearestNDInterpolator(sites[frame], np.arange(sites.shape[1]))
        where[sel, 3] = pick((axis[where[sel, 2]], axis[where[sel, 1]]))
    return where


def _linear_flow(
    sites: torch.Tensor, values: torch.Tensor, axis: torch.Tensor, row_limit: torch.Tensor, grid: torch.Tensor
) -> None:
    """Overwrite ``grid`` (B, R, S, S, 2) (nearest) with barycentric interpolation inside each frame's Delaunay
    triangulation; the triangulation and the weights are the driving frame's, shared by its R references."""
    from scipy.spatial import Delaunay

    size = axis.shape[0]
    grid_y, grid_x = torch.meshgrid(axis, axis, indexing="ij")
    pixels = torch.stack([grid_x, grid_y], dim=-1).reshape(-1, 2)
    pixels_np = pixels.cpu().numpy()
    rows = torch.arange(size, device=sites.device).repeat_interleave(size)
    for frame in range(sites.shape[0]):
        tri = Delaunay(sites[frame].detach().cpu().numpy())
        simplex = torch.as_tensor(tri.find_simplex(pixels_np), device=sites.device)
        inside = (simplex >= 0) & (rows < row_limit[frame])
        corners = torch.as_tensor(tri.simplices, device=sites.device)[simplex[inside]]  # (P, 3)
        a, b, c = (sites[frame][corners[:, k]] for k in range(3))
        p = pixels[inside]
        v0, v1, v2 = b - a, c - a, p - a
        den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
        w1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
        w2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
        for ref in range(values.shape[1]):
            vals = values[frame, ref][corners]  # (P, 3, 2)
            interp = (1 - w1 - w2)[:, None] * vals[:, 0] + w1[:, None] * vals[:, 1] + w2[:, None] * vals[:, 2]
            grid[frame, ref].view(-1, 2)[inside] = interp + p


def _mean_like_numpy(values: torch.Tensor) -> torch.Tensor:
    """Mean over points (dim -2) summed point after point, as ``np.mean(values, axis=0)`` does, so the torso motion
    is bit-equal."""
    total = values[..., 0, :].clone()
    for k in range(1, values.shape[-2]):
        total += values[..., k, :]
    return total / values.shape[-2]


def _check_method(method: str, image_size: int) -> int:
    if method not in ("nearest", "linear"):
        raise ValueError(f"method must be 'nearest' or 'linear', got {method!r}")
    if int(image_size) < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    return int(image_size)


def construct_fapp(
    reference_points: torch.Tensor | np.ndarray,
    driving_points: torch.Tensor | np.ndarray,
    image_size: int,
    method: str = "nearest",
) -> torch.Tensor:
    """Dense sampling grid (B, H, W, 2) in [-1, 1], x then y, that moves the reference face onto the driving pose.

    ``reference_points`` (N, 2) or (B, N, 2) and ``driving_points`` (B, N, 2) are pixel coordinates (x right, y down)
    in an ``image_size``-square image. ``grid_sample(reference, grid)`` samples, at each pixel near driving point k,
    the reference near reference point k. Every row at or below the lowest driving point gets the mean motion.

    ``method="nearest"`` is the original algorithm (piecewise-constant flow; exact). ``method="linear"`` interpolates
    barycentrically inside the driving points' Delaunay triangulation (nearest outside it): prefer it when the flow
    feeds a model trained on it or for visualisation, since it has no seams between Voronoi cells; keep "nearest" to
    match the released checkpoint, which was trained on nearest flows. The result has the dtype/device of the inputs
    (computed in float64 internally). Several references per driving frame: :func:`construct_fapp_references`.
    """
    size = _check_method(method, image_size)
    driving = _as_batched(driving_points, "driving_points")
    reference = _as_batched(reference_points, "reference_points").to(driving.device)
    if reference.shape[1] != driving.shape[1]:
        raise ValueError(f"reference has {reference.shape[1]} points but driving has {driving.shape[1]}")
    if reference.shape[0] not in (1, driving.shape[0]):
        raise ValueError(f"reference batch {reference.shape[0]} does not match driving batch {driving.shape[0]}")
    return _fapp(reference[:, None], driving, size, method)[:, 0]


def construct_fapp_references(
    reference_points: torch.Tensor | np.ndarray,
    driving_points: torch.Tensor | np.ndarray,
    image_size: int,
    method: str = "nearest",
) -> torch.Tensor:
    """One Fapp grid per (driving frame, reference): (B, R, H, W, 2), each reference moved by its own landmarks.

    ``reference_points`` (R, N, 2) (the same R references for every frame) or (B, R, N, 2); ``driving_points``
    (B, N, 2) or (N, 2). Grid ``[b, r]`` equals ``construct_fapp(reference_points[r], driving_points[b:b+1])[0]``
    bit for bit, but what depends on the driving frame alone (its Voronoi labelling or triangulation, the exact
    rechecks, the torso rows, scipy's tie-breaks) is computed once for all R references.
    """
    size = _check_method(method, image_size)
    driving = _as_batched(driving_points, "driving_points")
    reference = torch.as_tensor(reference_points).to(driving.device)
    if reference.ndim == 3:
        reference = reference[None]
    if reference.ndim != 4 or reference.shape[-1] != 2:
        raise ValueError(f"reference_points must have shape (R, N, 2) or (B, R, N, 2), got {tuple(reference.shape)}")
    if reference.shape[2] != driving.shape[1]:
        raise ValueError(f"reference has {reference.shape[2]} points but driving has {driving.shape[1]}")
    if reference.shape[0] not in (1, driving.shape[0]):
        raise ValueError(f"reference batch {reference.shape[0]} does not match driving batch {driving.shape[0]}")
    return _fapp(reference, driving, size, method)


def _fapp(reference: torch.Tensor, driving: torch.Tensor, size: int, method: str) -> torch.Tensor:
    """(B, R, S, S, 2) grids for references (1 or B, R, N, 2) and driving points (B, N, 2), checked by the callers."""
    out_dtype = driving.dtype if driving.is_floating_point() else torch.float32
    device = driving.device
    drv_px = driving.to(torch.float64)
    drv = drv_px / size * 2 - 1
    ref = reference.to(torch.float64) / size * 2 - 1
    values = (ref - drv[:, None]).contiguous()  # sparse flow, (B, R, N, 2)
    axis = _linspace(size, device)
    # Rows at or below the lowest driving point (pixels, truncated like int()) take the mean motion; a negative
    # limit counts from the bottom, as the original's slice ``flow[int(y):]`` does.
    lowest = drv_px[..., 1].amax(dim=1).trunc()
    row_limit = torch.where(lowest < 0, lowest + size, lowest).clamp(0, size).long()

    if method == "nearest" and out_dtype in (torch.float32, torch.float64):
        return _nearest_grid(drv, values, axis, row_limit, out_dtype)
    grid = _nearest_grid(drv, values, axis, row_limit, torch.float64)
    if method == "linear":
        _linear_flow(drv, values, axis, row_limit, grid)
    if out_dtype == torch.float64:
        return grid
    return _fresh_buffer(grid.shape, out_dtype, device).copy_(grid)


def _nearest_grid(
    sites: torch.Tensor, values: torch.Tensor, axis: torch.Tensor, row_limit: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """Nearest flow + identity grid, (B, R, S, S, 2) in ``dtype`` (float64 or float32), from the batch's label runs.

    ``values`` (B, R, N, 2): the labelling is computed once and gathered from each reference's motions. Each (x, y)
    pair is handled as one complex128, so a flow value plus an identity value is one complex addition (exactly the two
    float64 additions); a float32 result is that sum rounded once as it is stored, so the float64 grid is never
    written. scipy's tie-breaks then overwrite their pixels.
    """
    batch, num_sites, _ = sites.shape
    refs = values.shape[1]
    size = axis.shape[0]
    device = sites.device
    motions = torch.cat([values, _mean_like_numpy(values)[:, :, None]], dim=2)  # (B, R, N + 1, 2): + torso motion
    table = torch.view_as_complex(motions.transpose(0, 1).contiguous()).view(refs, -1)  # (R, B * (N + 1))
    on_cpu = device.type == "cpu"
    identity = (torch.from_numpy(_complex_identity(size)) if on_cpu
                else torch.complex(axis[None, :].expand(size, -1), axis[:, None].expand(-1, size)))
    out = torch.view_as_complex(_fresh_buffer((batch, refs, size, size, 2), dtype, device))
    sites_np, axis_np = sites.detach().cpu().numpy(), axis.cpu().numpy()
    starts, run, fixed, fixed_label, ambiguous = _batch_labels(sites_np, axis_np, row_limit.cpu().numpy())
    pixels = size * size
    run += starts // pixels * (num_sites + 1)  # labels into the motion table
    fixed_frame, fixed_pixel = np.divmod(fixed, pixels)
    fixed_label += fixed_frame * (num_sites + 1)
    lengths = np.diff(starts, append=batch * pixels)
    if on_cpu:  # motions repeated along the runs (read in order), exact fixes written over them
        table_np, identity_np, out_np = table.numpy(), identity.numpy(), out.numpy()
        cuts = np.searchsorted(starts, np.arange(batch + 1) * pixels).tolist()

        def fill(ref: int, frames: range) -> None:
            motion = table_np[ref][run]
            for frame in frames:
                part = slice(cuts[frame], cuts[frame + 1])
                np.add(np.repeat(motion[part], lengths[part]).reshape(size, size), identity_np, out=out_np[frame, ref])

        _side_by_side(fill, refs, batch)
        flat_identity = identity_np.reshape(-1)
        for ref in range(refs):
            out_np.reshape(batch, refs, -1)[fixed_frame, ref, fixed_pixel] = (table_np[ref][fixed_label]
                                                                             + flat_identity[fixed_pixel])
    else:  # a label map, gathered on the device a band at a time so the gathered values stay in cache
        labels = np.repeat(run.astype(np.int32), lengths)
        labels[fixed] = fixed_label
        on_device = torch.from_numpy(labels).to(device).view(batch, size, size)
        for frame in range(batch):
            for start in range(0, size, _FILL_ROWS):
                band = slice(start, start + _FILL_ROWS)
                where = on_device[frame, band].reshape(-1)
                for ref in range(refs):
                    gathered = table[ref].index_select(0, where).view(-1, size)
                    torch.add(gathered, identity[band], out=out[frame, ref, band])
    if len(ambiguous):
        picked = _break_ties_like_scipy(ambiguous, sites_np, values.detach().cpu().numpy(), axis_np)
        frame, row, col, label = torch.as_tensor(picked, device=device).unbind(1)
        for ref in range(refs):
            out[frame, ref, row, col] = (table[ref][label + frame * (num_sites + 1)] + identity[row, col]).to(out.dtype)
    return torch.view_as_real(out)


@functools.lru_cache(maxsize=4)
def _complex_identity(size: int) -> np.ndarray:
    """The identity grid as complex128 x + iy, built once per size by numpy (internal: never written to; a torch op
    of this size would also wake torch's thread pool, whose spinning threads cost more CPU time than the op)."""
    axis = _linspace(size, torch.device("cpu")).numpy()
    grid = np.empty((size, size), np.complex128)
    grid.real, grid.imag = axis[None, :], axis[:, None]
    return grid


def _side_by_side(fill: Callable[[int, range], None], refs: int, batch: int) -> None:
    """``fill(ref, frames)`` over every reference and frame, split among torch's threads (numpy's repeat and add
    release the GIL in their loops)."""
    workers = min(torch.get_num_threads(), batch)
    if workers < 2:
        for ref in range(refs):
            fill(ref, range(batch))
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        jobs = [pool.submit(fill, ref, range(k, batch, workers)) for ref in range(refs) for k in range(workers)]
        for job in jobs:
            job.result()


def _fresh_buffer(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Uninitialised tensor; on Linux CPU backed by transparent huge pages where the kernel offers them.

    A 25-frame 512x512 float64 grid is 100 MB: faulting it in 4 KiB pages (~40 ms here) costs more than computing
    it, in 2 MiB pages it costs a few ms. ``torch.frombuffer`` keeps the mapping alive as long as the tensor.
    """
    nbytes = math.prod(shape) * dtype.itemsize
    if device.type != "cpu" or nbytes < _HUGE_PAGE_MIN_BYTES or not hasattr(mmap, "MADV_HUGEPAGE"):
        return torch.empty(shape, dtype=dtype, device=device)
    buffer = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        buffer.madvise(mmap.MADV_HUGEPAGE)
    except OSError:  # kernel without transparent huge pages: ordinary pages, still correct
        pass
    return torch.frombuffer(buffer, dtype=dtype).view(shape)


def flow_to_color(
    grid_or_flow: torch.Tensor | np.ndarray, is_grid: bool = True, max_norm: float | None = None
) -> np.ndarray:
    """uint8 RGB picture(s) of a sampling grid's displacement: hue = direction, brightness = magnitude.

    ``grid_or_flow`` is (H, W, 2) or (B, H, W, 2); with ``is_grid`` the identity grid is subtracted first. Magnitudes
    are scaled by ``max_norm`` (default: the largest displacement present), so compare pictures with a fixed value.
    """
    arr = torch.as_tensor(grid_or_flow).detach().to("cpu", torch.float64)
    squeeze = arr.ndim == 3
    if squeeze:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 2 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"expected a square (H, W, 2) or (B, H, W, 2) grid, got {tuple(arr.shape)}")
    if is_grid:
        arr = arr - identity_grid(arr.shape[1], dtype=torch.float64)
    dx, dy = arr[..., 0], arr[..., 1]
    magnitude = torch.sqrt(dx * dx + dy * dy)
    scale = float(max_norm) if max_norm else float(magnitude.max()) or 1.0
    hue = (torch.atan2(dy, dx) / (2 * np.pi)) % 1.0
    value = (magnitude / scale).clamp(0, 1)
    sector = hue * 6
    k = torch.stack([(5 + sector) % 6, (3 + sector) % 6, (1 + sector) % 6], dim=-1)
    rgb = value[..., None] * (1 - torch.clamp(torch.minimum(k, 4 - k), 0, 1))
    image = (rgb * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    return image[0] if squeeze else image


def reference_fapp(reference: np.ndarray, driving: np.ndarray, size: int, method: str = "nearest") -> np.ndarray:
    """The original algorithm, one frame at a time with numpy + scipy: the executable specification of
    :func:`construct_fapp` (tests compare against it bit for bit; the benchmark measures against it).

    ``reference`` (N,2) and ``driving`` (B,N,2) in pixels; returns (B,size,size,2) float64.
    """
    from scipy.interpolate import griddata

    axis = np.linspace(-1, 1, size)
    grid_x, grid_y = np.meshgrid(axis, axis)
    ref = np.asarray(reference, dtype=np.float64) / size * 2 - 1
    frames = []
    for points in np.asarray(driving, dtype=np.float64):
        drv = points / size * 2 - 1
        values = ref - drv
        flow = griddata(drv, values, (grid_x, grid_y), method="nearest")
        if method == "linear":
            inside = griddata(drv, values, (grid_x, grid_y), method="linear")
            flow = np.where(np.isnan(inside), flow, inside)
        flow[int(points[:, 1].max()) :] = values.mean(axis=0)
        frames.append(flow + np.stack([grid_x, grid_y], axis=-1))
    return np.stack(frames)
