"""FAPP: sparse landmark motion -> dense sampling grid for ``grid_sample`` (facial animation parameter projection).

The original built the dense flow one frame at a time with ``scipy.interpolate.griddata(method="nearest")`` over a
512x512 grid, then overwrote every row below the driving face with the mean motion (so neck and torso move rigidly).
``construct_fapp(method="nearest")`` returns bit-identical values, batched and on any device, by walking a quadtree
over the image: a square of pixels whose four corners share one strict nearest point lies entirely in that point's
Voronoi cell (the difference of two squared distances is affine, so its sign at the corners bounds it inside), so only
squares on cell borders are refined, and 8x8 leaves are brute-forced over the few points that can still win there.
Exact distance ties between points whose motions differ are resolved by scipy's own KD-tree: the tie-break is scipy's.

No full-size label map is built: one broadcast addition writes (motion of the leaf square's point + identity grid)
for every pixel, then the mixed leaf squares, the tie-broken pixels and the torso's first rows are overwritten. At
25 frames of 512x512 the float64 result is 100 MB, so it lives in transparent huge pages where Linux offers them
(faulting it in 4 KiB pages took longer than computing it).
"""

from __future__ import annotations

import math
import mmap

import numpy as np
import torch

__all__ = ["construct_fapp", "identity_grid", "flow_to_color", "reference_fapp"]

_TOP_TILE = 64
_LEAF_TILE = 8
# Results at least this large get huge pages (see _fresh_buffer).
_HUGE_PAGE_MIN_BYTES = 1 << 24
# Mixed leaf squares are labelled this many at a time: temporaries stay in cache and malloc recycles them.
_LEAF_CHUNK = 256
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


def _upsample2(labels: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Each square's label to its four children, cropped to the child grid."""
    return labels.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)[:, :rows, :cols]


def _nearest_labels(
    sites: torch.Tensor, axis: torch.Tensor, row_limit: torch.Tensor
) -> tuple[torch.Tensor, list[tuple[torch.Tensor, ...]]]:
    """Nearest site of every uniform leaf square, and the mixed leaf squares with the sites that compete in them.

    Pixel (row, col) sits at (x, y) = (axis[col], axis[row]). Squared distances are formed as scipy's KD-tree forms
    them, dx*dx + dy*dy in float64, so the chosen site is the same wherever the nearest is unique. Each square carries
    only the sites that can be nearest (or nearly tied) somewhere inside it, found from its corner distances, so the
    work per square shrinks with the square. Returns ``(coarse, mixed)``: ``coarse`` (B, G, G) holds the label of
    every leaf square (G = ceil(S / leaf); N = the mean motion for squares at or below ``row_limit``), and ``mixed``
    the undecided leaf squares as groups of (positions (M, 3) = frame, leaf row, leaf col; candidates (M, K);
    usable (M, K)).
    """
    batch, num_sites, _ = sites.shape
    size = axis.shape[0]
    device = sites.device
    tile = _TOP_TILE
    grid = -(-size // tile)
    coarse = torch.full((batch, grid, grid), num_sites, dtype=torch.int32, device=device)
    pos = torch.cartesian_prod(*(torch.arange(n, device=device) for n in (batch, grid, grid)))  # (M, 3) frame, ty, tx
    pos = pos[pos[:, 1] * tile < row_limit[pos[:, 0]]]
    cand = torch.arange(num_sites, device=device).expand(len(pos), -1)  # (M, K) candidate sites per square
    usable = torch.ones_like(cand, dtype=torch.bool)
    children = torch.tensor([[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1]], device=device)
    doubling = torch.tensor([1, 2, 2], device=device)
    while len(pos):
        parts = []
        for group, width in _by_width(usable):
            gpos = pos[group]
            label, decided, gcand, gusable = _corner_pass(
                sites, axis, gpos, tile, cand[group, :width], usable[group, :width]
            )
            done = gpos[decided]
            coarse[done[:, 0], done[:, 1], done[:, 2]] = label[decided]
            parts.append((gpos[~decided], gcand, gusable))
        pos = torch.cat([part[0] for part in parts])
        cand, usable = _pad_cat([part[1] for part in parts], [part[2] for part in parts])
        if tile <= _LEAF_TILE:
            break
        tile //= 2
        grid = -(-size // tile)
        coarse = _upsample2(coarse, grid, grid)
        pos = (pos[:, None] * doubling + children).view(-1, 3)
        cand, usable = (t.repeat_interleave(4, dim=0) for t in (cand, usable))
        keep = (pos[:, 1] < grid) & (pos[:, 2] < grid) & (pos[:, 1] * tile < row_limit[pos[:, 0]])
        pos, cand, usable = pos[keep], cand[keep], usable[keep]

    scale = tile // _LEAF_TILE
    grid = -(-size // _LEAF_TILE)
    coarse = coarse.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)[:, :grid, :grid]
    below = torch.arange(grid, device=device) * _LEAF_TILE >= row_limit[:, None]  # (B, G) leaf rows in the torso
    coarse = torch.where(below[:, :, None], num_sites, coarse)
    mixed = [(pos[group], cand[group, :width], usable[group, :width]) for group, width in _by_width(usable)]
    return coarse, mixed


def _by_width(usable: torch.Tensor) -> list[tuple[torch.Tensor, int]]:
    """Square indices grouped by how many candidates still compete in them (kept first): no group pads far beyond."""
    if not usable.numel():
        return []
    counts = usable.sum(dim=1)
    groups, low = [], 0
    for high in (1, 2, 4, 8, 16, usable.shape[1]):
        high = min(high, usable.shape[1])
        if high > low:
            group = (counts > low) & (counts <= high)
            if group.any():
                groups.append((group.nonzero().squeeze(1), high))
            low = high
    return groups


def _pad_cat(cands: list[torch.Tensor], usables: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate candidate lists of different widths, padding with unusable slots."""
    width = max(c.shape[1] for c in cands)
    cand = torch.cat([_pad_to(c, width, 0) for c in cands])
    usable = torch.cat([_pad_to(u, width, False) for u in usables])
    return cand, usable


def _pad_to(t: torch.Tensor, width: int, value: int | bool) -> torch.Tensor:
    """Widen (M, k) to (M, width) with ``value``."""
    if t.shape[1] == width:
        return t
    return torch.cat([t, torch.full((t.shape[0], width - t.shape[1]), value, dtype=t.dtype, device=t.device)], 1)


def _gather_sites(sites: torch.Tensor, frame: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
    """``sites[frame, slot]`` as one row gather from the flattened (B * N, 2) table (several times faster)."""
    index = frame * sites.shape[1] + slot
    return sites.view(-1, 2).index_select(0, index.reshape(-1)).view(*index.shape, 2)


def _corner_pass(
    sites: torch.Tensor,
    axis: torch.Tensor,
    pos: torch.Tensor,
    tile: int,
    cand: torch.Tensor,
    usable: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Nearest site at the four corners of each square; decided = one strict winner at all four.

    Returns the winner (int32), the decided mask, and for the undecided squares their compacted contenders.
    """
    size = axis.shape[0]
    b, y0, x0 = pos[:, 0], pos[:, 1] * tile, pos[:, 2] * tile
    y1 = torch.clamp(y0 + tile, max=size) - 1
    x1 = torch.clamp(x0 + tile, max=size) - 1
    pts = _gather_sites(sites, b[:, None], cand)  # (M, K, 2)
    dx = axis[torch.stack([x0, x1], dim=1)][:, :, None] - pts[:, None, :, 0]  # (M, 2, K): left and right edge
    dy = axis[torch.stack([y0, y1], dim=1)][:, :, None] - pts[:, None, :, 1]  # top and bottom edge
    dy2 = torch.where(usable[:, None, :], dy * dy, torch.tensor(float("inf"), dtype=dy.dtype, device=dy.device))
    dist = (dy2[:, :, None] + (dx * dx)[:, None]).view(len(pos), 4, -1)  # corners (y0 x0, y0 x1, y1 x0, y1 x1)
    if dist.shape[-1] > 1:
        best2, idx2 = dist.topk(2, dim=-1, largest=False)
        clear = (best2[..., 1] - best2[..., 0] > _TIE_RTOL * best2[..., 1]) | torch.isinf(best2[..., 1])
    else:
        idx2 = torch.zeros_like(dist, dtype=torch.long)
        clear = torch.ones(dist.shape[:2], dtype=torch.bool, device=dist.device)
    best = torch.gather(cand, 1, idx2[..., 0])  # (M, 4) site index
    decided = clear.all(dim=1) & (best == best[:, :1]).all(dim=1)
    undecided = (~decided).nonzero().squeeze(1)
    cand, usable = _contenders(dist[undecided], idx2[undecided][:, 0, 0], cand[undecided], usable[undecided])
    return best[:, 0].to(torch.int32), decided, cand, usable


def _label_leaves(
    ambiguous: list[torch.Tensor],
    sites: torch.Tensor,
    axis: torch.Tensor,
    pos: torch.Tensor,
    cand: torch.Tensor,
    usable: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Label every pixel of the undecided leaf squares by brute force over each square's few candidates.

    Returns rows (M, T), cols (M, T) and labels (M, T, T). Pixels past the image edge (in the last leaf of a size
    that is not a multiple of the leaf) repeat the edge pixel. Candidates are the outermost dimension, so each step
    of the running minimum runs over all squares at once; (near-)tied pixels are appended to ``ambiguous`` as
    (frame, row, col, label).
    """
    size = axis.shape[0]
    tile = _LEAF_TILE
    b = pos[:, 0]
    offsets = torch.arange(tile, device=b.device)
    rows = (pos[:, 1, None] * tile + offsets).clamp(max=size - 1)  # (M, T)
    cols = (pos[:, 2, None] * tile + offsets).clamp(max=size - 1)
    pts = _gather_sites(sites, b[None, :], cand.T)  # (K, M, 2)
    dx = axis[cols][None] - pts[:, :, None, 0]  # (K, M, T)
    dy = axis[rows][None] - pts[:, :, None, 1]
    dy2 = torch.where(usable.T[:, :, None], dy * dy, torch.tensor(float("inf"), dtype=dy.dtype, device=b.device))
    dist = dy2[:, :, :, None] + (dx * dx)[:, :, None, :]  # (K, M, T_y, T_x): dx*dx + dy*dy, as scipy sums
    best_dist, runner_up = dist[0], torch.full_like(dist[0], float("inf"))
    best_slot = torch.zeros(dist.shape[1:], dtype=torch.long, device=b.device)
    for slot in range(1, dist.shape[0]):  # running best and runner-up, in place
        best_slot.masked_fill_(dist[slot] < best_dist, slot)
        torch.minimum(runner_up, torch.maximum(best_dist, dist[slot]), out=runner_up)
        torch.minimum(best_dist, dist[slot], out=best_dist)
    label = torch.gather(cand, 1, best_slot.view(len(b), -1)).view(-1, tile, tile)
    unclear = best_dist >= runner_up * (1 - _TIE_RTOL)
    if unclear.any():
        m, py, px = unclear.nonzero().unbind(1)
        ambiguous.append(torch.stack([b[m], rows[m, py], cols[m, px], label[m, py, px]], dim=1))
    return rows, cols, label


def _contenders(
    dist: torch.Tensor, ref: torch.Tensor, cand: torch.Tensor, usable: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The candidates that can be nearest, or within the tie tolerance of it, somewhere in each square.

    ``dist`` (M, 4, K) holds squared distances at the corners, ``ref`` the slot of one corner's nearest site i.
    For any j, d_j^2 - d_i^2 is affine over the square, so it is smallest at a corner: j can beat (or tie) i somewhere
    only if it does so at a corner. Everything else can never be nearest inside, for this square and its children.
    The result is compacted (kept candidates first) and padded to the widest square.
    """
    d_ref = dist.gather(2, ref[:, None, None].expand(-1, 4, 1))[..., 0]  # (M, 4)
    margin = 4 * _TIE_RTOL * d_ref.amax(dim=1, keepdim=True)
    keep = ((dist - d_ref[..., None]).amin(dim=1) <= margin) & usable
    if not keep.numel():
        return cand, usable
    width = int(keep.sum(dim=1).max())
    order = torch.sort((~keep).to(torch.uint8), dim=1, stable=True).indices[:, :width]
    return torch.gather(cand, 1, order), torch.gather(keep, 1, order)


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
    # Rows at or below the lowest driving point (pixels, truncated like int()) take the mean motion.
    row_limit = drv_px[..., 1].amax(dim=1).trunc().clamp(0, size).long()

    grid = _nearest_grid(drv, values, axis, row_limit)
    if method == "linear":
        _linear_flow(drv, values, axis, row_limit, grid)
    if out_dtype == torch.float64:
        return grid
    return _fresh_buffer(grid.shape, out_dtype, device).copy_(grid)


def _nearest_grid(
    sites: torch.Tensor, values: torch.Tensor, axis: torch.Tensor, row_limit: torch.Tensor
) -> torch.Tensor:
    """Nearest flow + identity grid, (B, S, S, 2) float64, each pixel written once except leaf squares and torso edges.

    Each (x, y) pair is handled as one complex128, so a flow value plus an identity value is one complex addition
    (exactly the two float64 additions) and gathers move 16 bytes at a time. Uniform leaf squares are written in one
    broadcast addition over the whole batch; the mixed leaf squares, scipy's tie-breaks and the rows between the
    torso limit and the next leaf boundary then overwrite their pixels.
    """
    batch, num_sites, _ = sites.shape
    size, leaf = axis.shape[0], _LEAF_TILE
    device = sites.device
    coarse, mixed = _nearest_labels(sites, axis, row_limit)
    grid_n = coarse.shape[1]
    padded = grid_n * leaf
    table = torch.view_as_complex(torch.cat([values, _mean_like_numpy(values)[:, None]], dim=1)).view(-1)
    base = torch.arange(batch, device=device) * (num_sites + 1)  # frame offset into the flat (B * (N + 1)) table
    axis_p = axis[torch.arange(padded, device=device).clamp(max=size - 1)]  # edge pixel repeated past the image
    identity = torch.complex(axis_p[None, :].expand(padded, -1), axis_p[:, None].expand(-1, padded))  # (P, P)

    out = torch.view_as_complex(_fresh_buffer((batch, padded, padded, 2), torch.float64, device))
    square_values = table[coarse + base[:, None, None]][:, :, None, :, None]  # (B, G, 1, G, 1)
    torch.add(square_values, identity.view(grid_n, leaf, grid_n, leaf), out=out.view(batch, grid_n, leaf, grid_n, leaf))

    flat_out = out.view(-1)
    ambiguous: list[torch.Tensor] = []
    for pos, cand, usable in mixed:
        for start in range(0, len(pos), _LEAF_CHUNK):
            part = slice(start, start + _LEAF_CHUNK)
            rows, cols, label = _label_leaves(ambiguous, sites, axis, pos[part], cand[part], usable[part])
            frame = pos[part, 0, None, None]
            value = table[label + base[frame]]  # (M, T, T)
            torch.view_as_real(value)[..., 0] += axis[cols][:, None, :]
            torch.view_as_real(value)[..., 1] += axis[rows][:, :, None]
            pixel = (frame * padded + rows[:, :, None]) * padded + cols[:, None, :]
            flat_out.index_copy_(0, pixel.view(-1), value.view(-1))
    if ambiguous:
        tied = torch.cat(ambiguous)
        tied = tied[tied[:, 1] < row_limit[tied[:, 0]]]  # the torso rows are overwritten below anyway
        frame, row, col, label = _break_ties_like_scipy(tied, sites, values, axis).unbind(1)
        out[frame, row, col] = table[label + base[frame]] + identity[row, col]
    for index, first_row in enumerate(row_limit.tolist()):  # torso rows above the first leaf row wholly in the torso
        last_row = min(-(-first_row // leaf) * leaf, padded)
        out[index, first_row:last_row] = table[base[index] + num_sites] + identity[first_row:last_row]
    grid = torch.view_as_real(out)
    return grid if padded == size else grid[:, :size, :size].contiguous()


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
