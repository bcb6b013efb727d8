"""Training losses of both stages. Nothing here needs downloaded weights.

Animation to video (``animation2video_losses`` and the adversarial terms):

- reconstruction: L1 plus a multi-scale L1 + SSIM term (SSIM keeps the local structure that L1 alone blurs);
- warp: L1 between the reference warped by the foreground flow (up-sampled to the image) and the target frame, so
  the flow itself stays meaningful;
- flow smoothness: total variation of the foreground flow's displacement (Fapp is piecewise constant; the refined
  flow should not be);
- adversarial: a multi-scale patch discriminator (LSGAN objective) with discriminator feature matching, switched on
  from a configurable step by the training script.

Audio to animation (``audio2animation_losses``): landmark-space L1 of decoded landmarks (mouth weighted), velocity,
pose and expression terms; ``HDTFAudioToAnimation.forward`` returns them when given targets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .animation_params import MOUTH, NUM_LANDMARKS

# animation2video loss weights: reconstruction dominates; the warp term keeps the foreground flow meaningful (the
# warped reference alone should already resemble the target); smoothness only discourages seams in the mask.
ANIMATION2VIDEO_LOSS_WEIGHTS = {"l1": 1.0, "ms_l1_ssim": 1.0, "warp": 0.5, "flow_smoothness": 0.01}


def _gaussian_window(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(x: torch.Tensor, y: torch.Tensor, window_size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM of two (B,C,H,W) batches in [0,1] (gaussian window, same constants as Wang et al. 2004)."""
    c1, c2 = 0.01**2, 0.03**2
    channels = x.shape[1]
    size = min(window_size, x.shape[-1], x.shape[-2])
    window = _gaussian_window(size, sigma, channels, x.device, x.dtype)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean()


def multiscale_l1_ssim_loss(pred: torch.Tensor, target: torch.Tensor, scales: int = 3, ssim_weight: float = 0.85):
    """Average over ``scales`` dyadic scales of ``(1-w)·L1 + w·(1-SSIM)/2``."""
    total = pred.new_zeros(())
    for level in range(scales):
        if level:
            pred, target = F.avg_pool2d(pred, 2), F.avg_pool2d(target, 2)
        total = total + (1 - ssim_weight) * F.l1_loss(pred, target) + ssim_weight * (1 - ssim(pred, target)) / 2
    return total / scales


def flow_smoothness_loss(grid: torch.Tensor) -> torch.Tensor:
    """Total variation of a sampling grid's displacement (B,H,W,2) around the ``linspace(-1, 1, size)`` identity."""
    h, w = grid.shape[1:3]
    dx = grid[:, :, 1:] - grid[:, :, :-1]
    dy = grid[:, 1:] - grid[:, :-1]
    dx = dx - dx.new_tensor([2.0 / (w - 1), 0.0])
    dy = dy - dy.new_tensor([0.0, 2.0 / (h - 1)])
    return dx.abs().mean() + dy.abs().mean()


def animation2video_losses(
    synthetic: torch.Tensor,
    target: torch.Tensor,
    reference: torch.Tensor,
    foreground_flow: torch.Tensor,
    weights: dict[str, float] = ANIMATION2VIDEO_LOSS_WEIGHTS,
) -> dict[str, torch.Tensor]:
    """The non-adversarial losses of a synthetic frame (B,3,H,W) against its ``target``, each a scalar, plus their
    weighted sum under ``"loss"``. ``foreground_flow`` is the model's ``dense_flow_foreground`` (B,h,w,2), at the
    features' scale: it is resized bilinearly to the reference's size for the warp term (the original's convention).
    Several references (``reference`` (B,R,3,H,W), ``foreground_flow`` (B,R,h,w,2)): each warped reference is held
    to the target, averaged over references."""
    if reference.ndim == 5:
        count = reference.shape[1]
        reference, foreground_flow = reference.flatten(0, 1), foreground_flow.flatten(0, 1)
        warp_target = target.repeat_interleave(count, dim=0)
    else:
        warp_target = target
    if foreground_flow.shape[1:3] != reference.shape[2:]:
        foreground_flow = F.interpolate(
            foreground_flow.permute(0, 3, 1, 2), size=reference.shape[2:], mode="bilinear", align_corners=False
        ).permute(0, 2, 3, 1)
    warped = F.grid_sample(reference, foreground_flow.to(reference.dtype), align_corners=False)
    losses = {
        "l1": F.l1_loss(synthetic, target),
        "ms_l1_ssim": multiscale_l1_ssim_loss(synthetic, target),
        "warp": F.l1_loss(warped, warp_target),
        "flow_smoothness": flow_smoothness_loss(foreground_flow.float()),
    }
    losses["loss"] = sum(weights[k] * v for k, v in losses.items())
    return losses


class PatchDiscriminator(nn.Module):
    """A PatchGAN: strided 4x4 convolutions, each block's activation kept for feature matching."""

    def __init__(self, in_channels: int = 3, base_channels: int = 64, num_layers: int = 4, max_channels: int = 512):
        super().__init__()
        blocks, channels = [], in_channels
        for i in range(num_layers):
            out = min(base_channels * 2**i, max_channels)
            stride = 2 if i < num_layers - 1 else 1
            norm = nn.InstanceNorm2d(out, affine=True) if i else nn.Identity()
            blocks.append(nn.Sequential(nn.Conv2d(channels, out, 4, stride, 1), norm, nn.LeakyReLU(0.2)))
            channels = out
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(channels, 1, 4, 1, 1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        for block in self.blocks:
            image = block(image)
            features.append(image)
        return self.head(image), features


class MultiScalePatchDiscriminator(nn.Module):
    """Patch discriminators on the image at 1, 1/2, 1/4, … scale: coarse scales judge layout, fine ones texture."""

    def __init__(self, num_scales: int = 2, **kwargs) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(PatchDiscriminator(**kwargs) for _ in range(num_scales))

    def forward(self, image: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        outputs = []
        for i, disc in enumerate(self.discriminators):
            if i:
                image = F.avg_pool2d(image, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(disc(image))
        return outputs


def discriminator_loss(real_outputs, fake_outputs) -> torch.Tensor:
    """LSGAN discriminator objective summed over scales (fake outputs must come from detached images)."""
    return sum(((r - 1) ** 2).mean() + (f**2).mean() for (r, _), (f, _) in zip(real_outputs, fake_outputs))


def generator_adversarial_loss(fake_outputs) -> torch.Tensor:
    """LSGAN generator objective summed over scales."""
    return sum(((f - 1) ** 2).mean() for f, _ in fake_outputs)


def feature_matching_loss(real_outputs, fake_outputs) -> torch.Tensor:
    """L1 between discriminator features of real and generated images (real side detached)."""
    total, count = 0.0, 0
    for (_, real_feats), (_, fake_feats) in zip(real_outputs, fake_outputs):
        for r, f in zip(real_feats, fake_feats):
            total = total + F.l1_loss(f, r.detach())
            count += 1
    return total / max(count, 1)


# ---- audio to animation ------------------------------------------------------------------------------------------
def decode_normalised_landmarks(
    expression: torch.Tensor,
    pose: torch.Tensor,
    mean: torch.Tensor,
    components: torch.Tensor,
    out_of_plane: torch.Tensor,
) -> torch.Tensor:
    """Landmarks (…, 68, 2) of the mean face (unit scale) moved by expression (…, K) and pose deltas (…, 6).

    The differentiable twin of ``ExpressionBasis.decode`` with the rest pose at the origin, used by the losses.
    """
    shape = mean + torch.einsum("...k,kpc->...pc", expression, components)
    shape = shape + torch.einsum("...k,kpc->...pc", pose[..., 4:6], out_of_plane)
    cos, sin = torch.cos(pose[..., 1])[..., None], torch.sin(pose[..., 1])[..., None]
    x, y = shape[..., 0], shape[..., 1]
    rotated = torch.stack([cos * x - sin * y, sin * x + cos * y], -1)
    return rotated * torch.exp(pose[..., 0])[..., None, None] + pose[..., None, 2:4]


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` (B, T, …) over frames where ``mask`` (B, T) is set."""
    weights = mask.to(values.dtype).reshape(*mask.shape, *([1] * (values.ndim - mask.ndim)))
    count = (weights.expand_as(values)).sum().clamp_min(1.0)
    return (values * weights).sum() / count


def audio2animation_losses(
    expression: torch.Tensor,
    pose: torch.Tensor,
    expression_target: torch.Tensor,
    pose_target: torch.Tensor,
    mean: torch.Tensor,
    components: torch.Tensor,
    out_of_plane: torch.Tensor,
    frame_mask: torch.Tensor | None = None,
    *,
    landmark_weight: float = 1.0,
    mouth_weight: float = 2.0,
    velocity_weight: float = 0.5,
    pose_weight: float = 1.0,
    expression_weight: float = 0.1,
) -> dict[str, torch.Tensor]:
    """Losses of the stage, each a scalar, plus their weighted sum under ``"loss"``.

    - ``landmark``: L1 between decoded landmarks (expression + pose, mean face, unit scale); mouth points count
      ``mouth_weight`` times (lip sync lives in 20 of the 68 points and would otherwise be drowned by the jaw line);
    - ``velocity``: L1 between frame-to-frame landmark and pose differences (no jitter, no frozen stretches);
    - ``pose``: L1 on the 6 pose deltas (rotations and scale are not all visible in landmark distances);
    - ``expression``: L1 on coefficients, a small direct signal that speeds early training.
    """
    b, t = expression.shape[:2]
    mask = torch.ones(b, t, device=expression.device) if frame_mask is None else frame_mask.to(expression.device)
    pred_pts = decode_normalised_landmarks(expression, pose, mean, components, out_of_plane)
    true_pts = decode_normalised_landmarks(expression_target, pose_target, mean, components, out_of_plane)
    point_w = torch.ones(NUM_LANDMARKS, device=expression.device, dtype=expression.dtype)
    point_w[torch.as_tensor(MOUTH, device=expression.device)] = mouth_weight
    point_w = point_w / point_w.mean()
    diff = (pred_pts - true_pts).abs() * point_w[:, None]
    losses = {"landmark": _masked_mean(diff, mask)}
    pair = mask[:, 1:] * mask[:, :-1]
    if t > 1:
        vel_pts = ((pred_pts[:, 1:] - pred_pts[:, :-1]) - (true_pts[:, 1:] - true_pts[:, :-1])).abs()
        vel_pose = ((pose[:, 1:] - pose[:, :-1]) - (pose_target[:, 1:] - pose_target[:, :-1])).abs()
        losses["velocity"] = _masked_mean(vel_pts, pair) + _masked_mean(vel_pose, pair)
    else:
        losses["velocity"] = expression.new_zeros(())
    losses["pose"] = _masked_mean((pose - pose_target).abs(), mask)
    losses["expression"] = _masked_mean((expression - expression_target).abs(), mask)
    losses["loss"] = (
        landmark_weight * losses["landmark"]
        + velocity_weight * losses["velocity"]
        + pose_weight * losses["pose"]
        + expression_weight * losses["expression"]
    )
    return losses
