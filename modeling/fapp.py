"""FAPP: sparse landmark motion -> dense sampling grid for ``grid_sample`` (facial animation parameter projection).

The original built the dense flow one frame at a time with ``scipy.interpolate.griddata(method="nearest")`` over a
512x512 grid, then overwrote every row below the driving face with the mean motion (so neck and torso move rigidly).
``construct_fapp(method="nearest")`` returns bit-identical values, batched and on any device, by scan lines: along a
pixel row the nearest point changes only where a Voronoi ridge crosses the row, so each row is its exact first label
plus a running sum of the label changes at the crossings (Qhull's diagram of the distinct points, all rows of all
ridges at once). Only what rounding could get wrong is recomputed exactly with scipy's distance formula: pixels within
1e-7 of a crossing, rows within 1e-7 of a Voronoi vertex or a ridge parallel to the rows, rows whose chain of changes
does not end on their exact last label, the cells of coincident points, and frames Qhull cannot handle (collinear,
fewer than three points). Exact distance ties between points whose motions differ are resolved by scipy's own
KD-tree: the tie-break is scipy's.

Each frame's label map is gathered from a motion table and added to the identity grid in cache-sized bands. At
25 frames of 512x512 the float64 result is 100 MB, so it lives in transparent huge pages where Linux offers them
(faulting it in 4 KiB pages took longer than computing it).
"""

from __future__ import annotations

import math
import mmap

import numpy as np
import torch

__all__ = ["construct_fapp", "identity_grid", "flow_to_color", "reference_fapp"]

# Results at least this large get huge pages (see _fresh_buffer).
_HUGE_PAGE_MIN_BYTES = 1 << 24
# Doubtful rows are recomputed exactly this many at a time, so the (pixels, sites) distances stay small.
_ROW_CHUNK = 16
# Geometry closer than this (relative) to a pixel centre or row is not trusted to the rounding of Qhull and numpy.
_GEOM_EPS = 1e-7
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


def _exact_nearest(sites: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest site of each pixel (xs, ys) over all sites, as scipy forms distances, and whether it is (nearly) tied."""
    dx = xs[:, None] - sites[None, :, 0]
    dy = ys[:, None] - sites[None, :, 1]
    dist = dx * dx + dy * dy
    if sites.shape[0] == 1:
        return np.zeros(len(xs), np.int64), np.zeros(len(xs), bool)
    two = np.partition(dist, 1, axis=1)[:, :2]
    return dist.argmin(axis=1), two[:, 0] >= two[:, 1] * (1 - _TIE_RTOL)


def _ridge_crossings(
    sites: np.ndarray, axis: np.ndarray, rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Where each Voronoi ridge of the distinct ``sites`` crosses each of the first ``rows`` pixel rows.

    Returns (row, col, sides, flagged pixel rows/cols as (2, F), bad rows), or None when Qhull cannot build the
    diagram (fewer than three sites, all collinear). ``col`` is the first column right of the crossing and ``sides``
    (2, C) the sites right and left of it, where the label changes; ridges parallel to the rows never change a label
    within a row.
    Crossings within rounding of a pixel centre flag that pixel; rows within rounding of a Voronoi vertex, of a
    horizontal ridge or of column 0 are flagged whole (``bad``) and recomputed exactly.
    """
    from scipy.spatial import QhullError, Voronoi

    if sites.shape[0] < 3:
        return None
    try:
        vor = Voronoi(sites)
    except QhullError:
        return None
    size = axis.shape[0]
    ridge_sites = vor.ridge_points
    ridge_verts = np.asarray(vor.ridge_vertices).reshape(-1, 2)
    verts = vor.vertices
    first = verts[np.where(ridge_verts[:, 0] >= 0, ridge_verts[:, 0], ridge_verts[:, 1])]
    second = verts[np.where(ridge_verts[:, 1] >= 0, ridge_verts[:, 1], ridge_verts[:, 0])]
    unbounded = (ridge_verts < 0).any(axis=1)
    s_i, s_j = sites[ridge_sites[:, 0]], sites[ridge_sites[:, 1]]
    t = s_j - s_i
    ylo = np.minimum(first[:, 1], second[:, 1])
    yhi = np.maximum(first[:, 1], second[:, 1])
    normal = np.stack([-t[:, 1], t[:, 0]], axis=1)
    outward = np.sign((((s_i + s_j) / 2 - sites.mean(axis=0)) * normal).sum(axis=1)) * t[:, 0]  # ray's y direction
    ylo = np.where(unbounded & (outward < 0), -np.inf, ylo)
    yhi = np.where(unbounded & (outward > 0), np.inf, yhi)
    vert_eps = _GEOM_EPS * (1 + np.abs(verts).max(initial=0.0))
    flat = t[:, 0] == 0
    doubtful = np.concatenate([ylo, yhi, (s_i + s_j)[flat, 1] / 2])
    doubtful = doubtful[np.isfinite(doubtful)]
    cover = np.zeros(rows + 1, np.int64)
    np.add.at(cover, np.searchsorted(axis[:rows], doubtful - vert_eps), 1)
    np.add.at(cover, np.searchsorted(axis[:rows], doubtful + vert_eps), -1)
    bad = np.cumsum(cover[:rows]) > 0
    keep = ~flat
    ridge_sites, s_i, s_j, t, ylo, yhi = ridge_sites[keep], s_i[keep], s_j[keep], t[keep], ylo[keep], yhi[keep]
    low = np.searchsorted(axis[:rows], ylo + vert_eps)
    high = np.searchsorted(axis[:rows], yhi - vert_eps)
    count = np.maximum(high - low, 0)
    ridge = np.repeat(np.arange(len(t)), count)
    row = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count - low, count)
    offset = ((s_j * s_j).sum(axis=1) - (s_i * s_i).sum(axis=1)) / (2 * t[:, 0])
    slope = t[:, 1] / t[:, 0]
    x = offset[ridge] - slope[ridge] * axis[row]
    eps = (_GEOM_EPS * (1 + np.abs(offset) + np.abs(slope)))[ridge]
    # Column coordinate of the crossing; the linspace lattice is within a few ulps of -1 + col * step.
    u = (x + 1) * ((size - 1) / 2)
    col = np.ceil(u).astype(np.int64)
    lo_col = np.ceil(u - eps * size).astype(np.int64)
    hi_col = np.floor(u + eps * size).astype(np.int64) + 1
    bad[row[(lo_col <= 0) & (hi_col > 0)]] = True  # crossing at column 0: row-start label and chain could disagree
    near = hi_col > lo_col
    bad[row[hi_col > lo_col + 1]] = True  # ill-conditioned ridge: more than one doubtful pixel
    flagged = np.stack([row[near], np.clip(lo_col[near], 0, size - 1)])
    right = np.where(t[:, 0] > 0, ridge_sites[:, 1], ridge_sites[:, 0])
    left = np.where(t[:, 0] > 0, ridge_sites[:, 0], ridge_sites[:, 1])
    inside = (col > 0) & (col < size)
    return row[inside], col[inside], np.stack([right, left])[:, ridge[inside]], flagged, bad


def _frame_labels(
    sites: np.ndarray,
    axis: np.ndarray,
    offset: int,
    ambiguous: list[np.ndarray],
    frame: int,
    labels: np.ndarray,
    marks: np.ndarray,
) -> None:
    """Write ``offset`` + the nearest-site label of every pixel in the first rows of one frame into ``labels``.

    ``labels`` and ``marks`` are (rows, S) int32; ``marks`` is scratch space.

    Scan lines: the label changes only where a Voronoi ridge crosses the row, so each row is its exact first label
    plus a running sum of the changes at the crossings. Pixels the rounding of a crossing could put on either side,
    whole doubtful rows, and the cells of coincident sites are recomputed exactly; (near-)tied pixels are appended
    to ``ambiguous`` as (frame, row, col, label) for scipy's tie-break.
    """
    (rows, size), num_sites = labels.shape, sites.shape[0]
    distinct, first_index, inverse = np.unique(sites, axis=0, return_index=True, return_inverse=True)
    crossings = _ridge_crossings(distinct, axis, rows)
    redo_rows = np.arange(rows)
    fixes = []
    if crossings is not None:
        row, col, sides, flagged, bad = crossings
        ends_x = np.repeat(axis[[0, -1]], rows)[:, None] - sites[None, :, 0]
        ends_y = np.tile(axis[:rows], 2)[:, None] - sites[None, :, 1]
        ends = (ends_x * ends_x + ends_y * ends_y).argmin(axis=1)  # exact first and last label of each row
        marks.fill(0)
        marks[:, 0] = ends[:rows] + offset
        np.add.at(marks, (row, col), (first_index[sides[0]] - first_index[sides[1]]).astype(np.int32))
        np.cumsum(marks, axis=1, dtype=np.int32, out=labels)
        last = np.clip(labels[:, -1] - offset, 0, num_sites - 1)
        end_d = (axis[-1] - sites[last, 0]) ** 2 + (axis[:rows] - sites[last, 1]) ** 2
        best_d = (axis[-1] - sites[ends[rows:], 0]) ** 2 + (axis[:rows] - sites[ends[rows:], 1]) ** 2
        bad |= end_d > best_d * (1 + 4 * _TIE_RTOL)  # a broken chain of crossings: redo the row
        bad |= (labels.min(axis=1) < offset) | (labels.max(axis=1) >= offset + num_sites)
        redo_rows = np.flatnonzero(bad)
        shared = np.bincount(inverse.reshape(-1), minlength=len(distinct))[inverse.reshape(-1)] > 1
        if shared.any():
            lookup = np.zeros(offset + num_sites + 1, bool)
            lookup[offset : offset + num_sites] = shared
            fixes.append(np.nonzero(lookup[np.clip(labels, 0, offset + num_sites)]))
        fixes.append((flagged[0], flagged[1]))
    for chunk in range(0, len(redo_rows), _ROW_CHUNK):
        part = redo_rows[chunk : chunk + _ROW_CHUNK]
        fixes.append((np.repeat(part, size), np.tile(np.arange(size), len(part))))
    for r, c in fixes:
        if len(r):
            label, unclear = _exact_nearest(sites, axis[c], axis[r])
            labels[r, c] = label + offset
            if unclear.any():
                ambiguous.append(np.stack([np.full(unclear.sum(), frame), r[unclear], c[unclear], label[unclear]], 1))


def _break_ties_like_scipy(
    ambiguous: torch.Tensor, sites: torch.Tensor, values: torch.Tensor, axis: torch.Tensor
) -> torch.Tensor:
    """Rows (frame, row, col, label) of the (near-)tied pixels whose label must change to the one scipy picks.

    Only pixels where the tied sites' motions differ are asked of scipy's own ``NearestNDInterpolator``.
    """
    from scipy.interpolate import NearestNDInterpolator

    b, row, col, label = ambiguous.unbind(1)
    px, py = axis[col], axis[row]
    dist = (px[:, None] - sites[b, :, 0]) ** 2 + (py[:, None] - sites[b, :, 1]) ** 2
    best = dist.min(dim=1, keepdim=True).values
    tied = dist <= best * (1 + 4 * _TIE_RTOL)
    differs = (tied & (values[b] != values[b, label][:, None, :]).any(-1)).any(dim=1)
    ambiguous = ambiguous[differs]
    sites_np = sites.detach().cpu().numpy()
    axis_np = axis.cpu().numpy()
    where = ambiguous.cpu().numpy()
    for frame in np.unique(where[:, 0]):
        sel = where[:, 0] == frame
        pick = NearestNDInterpolator(sites_np[frame], np.arange(sites_np.shape[1]))
        where[sel, 3] = pick((axis_np[where[sel, 2]], axis_np[where[sel, 1]]))
    return torch.as_tensor(where, device=ambiguous.device)


def _linear_flow(
    sites: torch.Tensor, values: torch.Tensor, axis: torch.Tensor, row_limit: torch.Tensor, grid: torch.Tensor
) -> None:
    """Overwrite ``grid`` (nearest) with barycentric interpolation inside each frame's Delaunay triangulation."""
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
        vals = values[frame][corners]  # (P, 3, 2)
        interp = (1 - w1 - w2)[:, None] * vals[:, 0] + w1[:, None] * vals[:, 1] + w2[:, None] * vals[:, 2]
        grid[frame].view(-1, 2)[inside] = interp + p


def _mean_like_numpy(values: torch.Tensor) -> torch.Tensor:
    """Mean over points summed row after row, as ``np.mean(values, axis=0)`` does, so the torso motion is bit-equal."""
    total = values[:, 0].clone()
    for k in range(1, values.shape[1]):
        total += values[:, k]
    return total / values.shape[1]


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
    (computed in float64 internally).
    """
    if method not in ("nearest", "linear"):
        raise ValueError(f"method must be 'nearest' or 'linear', got {method!r}")
    if int(image_size) < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    size = int(image_size)
    driving = _as_batched(driving_points, "driving_points")
    reference = _as_batched(reference_points, "reference_points").to(driving.device)
    if reference.shape[1] != driving.shape[1]:
        raise ValueError(f"reference has {reference.shape[1]} points but driving has {driving.shape[1]}")
    if reference.shape[0] not in (1, driving.shape[0]):
        raise ValueError(f"reference batch {reference.shape[0]} does not match driving batch {driving.shape[0]}")
    out_dtype = driving.dtype if driving.is_floating_point() else torch.float32
    device = driving.device

    drv_px = driving.to(torch.float64)
    drv = drv_px / size * 2 - 1
    ref = reference.to(torch.float64) / size * 2 - 1
    values = (ref - drv).contiguous()  # sparse flow, (B, N, 2)
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
    """Nearest flow + identity grid, (B, S, S, 2) in ``dtype`` (float64 or float32), from per-frame label maps.

    Each (x, y) pair is handled as one complex128, so a flow value plus an identity value is one complex addition
    (exactly the two float64 additions); a float32 result is that sum rounded once as it is stored, so the float64
    grid is never written. scipy's tie-breaks then overwrite their pixels.
    """
    batch, num_sites, _ = sites.shape
    size = axis.shape[0]
    device = sites.device
    sites_np = sites.detach().cpu().numpy()
    axis_np = axis.cpu().numpy()
    table = torch.view_as_complex(torch.cat([values, _mean_like_numpy(values)[:, None]], dim=1)).view(-1)
    identity = torch.complex(axis[None, :].expand(size, -1), axis[:, None].expand(-1, size))
    out = torch.view_as_complex(_fresh_buffer((batch, size, size, 2), dtype, device))
    ambiguous: list[np.ndarray] = []
    limits = row_limit.tolist()

    def fill(frames: range) -> None:
        labels, marks = np.empty((size, size), np.int32), np.empty((size, size), np.int32)  # reused: no page faults
        index = torch.from_numpy(labels)
        for frame in frames:
            offset, rows = frame * (num_sites + 1), limits[frame]
            labels[rows:] = offset + num_sites
            if rows:
                _frame_labels(sites_np[frame], axis_np, offset, ambiguous, frame, labels[:rows], marks[:rows])
            on_device = index.to(device)
            for start in range(0, size, _FILL_ROWS):  # a band at a time: the gathered values stay in cache
                band = slice(start, start + _FILL_ROWS)
                gathered = table.index_select(0, on_device[band].reshape(-1)).view(-1, size)
                torch.add(gathered, identity[band], out=out[frame, band])

    workers = min(torch.get_num_threads(), batch)
    if workers > 1:  # numpy, Qhull and torch release the GIL in the heavy parts: frames run side by side
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(fill, [range(k, batch, workers) for k in range(workers)]))
    else:
        fill(range(batch))
    if ambiguous:
        tied = torch.as_tensor(np.concatenate(ambiguous), device=device)
        frame, row, col, label = _break_ties_like_scipy(tied, sites, values, axis).unbind(1)
        out[frame, row, col] = (table[label + frame * (num_sites + 1)] + identity[row, col]).to(out.dtype)
    return torch.view_as_real(out)


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
