"""The HDTF animation-to-video generator: reference image + dense FAPP flow -> synthetic frame.

Data flow, in the released code's order (docs/modeling.md has the full account):
  features        = encoder(reference)                                                         (1/4 scale)
  small ref, flow = gaussian blur + subsample of the reference and of the flow to 1/4 scale
  warped image    = grid_sample(small ref, small flow)             -- the SMALL reference, warped by the SMALL flow
  hourglass in    = [small ref, small flow, warped image]                                     (3 + 2 + 3 = 8 channels)
  heads           = foreground mask (sigmoid), matting mask (sigmoid), 256-ch matting features, from 64 + 8 channels
  foreground flow = mask * small flow + (1 - mask) * identity at 1/4 scale   (the background stays where it is)
  features        = matting_mask * warp(features, foreground flow) + (1 - matting_mask) * matting features
  image           = sigmoid(decoder(bottleneck(features)))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_animation2video import HDTFAnimationToVideoConfig
from .modeling_utils import HDTFPreTrainedModel

__all__ = ["AnimationToVideoOutput", "HDTFAnimationToVideo", "HDTFAnimationToVideoPreTrainedModel", "gaussian_kernel"]


@dataclass
class AnimationToVideoOutput(ModelOutput):
    """What the generator returns; images are RGB in [0, 1], masks in [0, 1] at the matting resolution.

    synthetic_image: (B, 3, H, W) the generated frame.
    warped_image: (B, 3, H/4, W/4) the blurred, subsampled reference warped by the subsampled flow (what the matting
        branch sees).
    foreground_mask: (B, 1, H/4, W/4) where the dense flow applies (1) versus static background (0).
    matting_mask: (B, 1, H/4, W/4) where warped features are kept (1) versus replaced by matting features (0).
    dense_flow_foreground: (B, H/4, W/4, 2) the flow that warps the features: mask * small flow + (1 - mask) *
        identity, at the features' scale.
    reference_weights: only for several references (inputs with a reference axis): (B, R, 1, H/4, W/4) the per-pixel
        weight of each reference's warped features (softmax of the confidence logits, or 1/R for "mean"); the
        matting-branch fields then have that axis too: (B, R, ...).
    """

    synthetic_image: torch.FloatTensor | None = None
    warped_image: torch.FloatTensor | None = None
    foreground_mask: torch.FloatTensor | None = None
    matting_mask: torch.FloatTensor | None = None
    dense_flow_foreground: torch.FloatTensor | None = None
    reference_weights: torch.FloatTensor | None = None


def gaussian_kernel(channels: int, sigma: float, size: int) -> torch.Tensor:
    """Depthwise (channels, 1, size, size) normalised 2-D gaussian, the anti-aliasing filter before down-sampling."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel = g[:, None] * g[None, :]
    kernel = kernel / kernel.sum()
    return kernel.to(torch.float32).expand(channels, 1, size, size).clone()


def _norm(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels, affine=True) if kind == "batch" else nn.InstanceNorm2d(channels, affine=True)


def fold_batch_norm(conv: nn.Conv2d, norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Weight and bias of ``norm(conv(x))`` as one convolution, when ``norm`` is a BatchNorm using running statistics.

    In inference the BatchNorm is an affine map per channel, so folding it into the convolution saves a full pass over
    the activations; None while training (batch statistics) or for other norms.
    """
    if not isinstance(norm, nn.BatchNorm2d) or norm.training or norm.running_var is None:
        return None
    scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    return conv.weight * scale[:, None, None, None], (bias - norm.running_mean) * scale + norm.bias


class ConvNormRelu(nn.Module):
    """conv -> norm -> ReLU at constant resolution (the encoder's 7x7 input block)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, norm: str):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2)
        self.norm = _norm(norm, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        folded = fold_batch_norm(self.conv, self.norm)
        if folded is None:
            return F.relu(self.norm(self.conv(x)))
        return F.relu(F.conv2d(x, *folded, padding=self.conv.padding), inplace=True)


class DownBlock(ConvNormRelu):
    """3x3 conv -> norm -> ReLU -> 2x2 average pool."""

    def __init__(self, in_ch: int, out_ch: int, norm: str):
        super().__init__(in_ch, out_ch, 3, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(super().forward(x), 2)


_PHASE_MIN_PIXELS = 64 * 64


def _fold_taps(kernel: torch.Tensor, dim: int, phase: int) -> torch.Tensor:
    """3 taps of a 3x3 kernel along ``dim`` -> the 2 taps that act on the low-resolution grid for one output phase.

    After nearest x2, output row 2i sees input rows i-1, i, i (taps 0 | 1+2) and row 2i+1 sees i, i, i+1 (0+1 | 2).
    """
    first, middle, last = kernel.unbind(dim)
    return torch.stack([first, middle + last] if phase == 0 else [first + middle, last], dim)


def upsample_conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``conv3x3(interpolate(x, scale_factor=2, mode="nearest"), padding=1)`` without forming the upsampled input.

    Each of the four output phases is a 2x2 convolution of ``x``: 4/9 of the multiply-adds, same result up to float
    rounding (~1e-6).
    """
    out_ch = weight.shape[0]
    height, width = x.shape[2:]
    kernels = [_fold_taps(_fold_taps(weight, 2, py), 3, px) for py in (0, 1) for px in (0, 1)]
    y = F.conv2d(F.pad(x, (1, 1, 1, 1)), torch.cat(kernels), None if bias is None else bias.repeat(4))
    y = y.unflatten(1, (2, 2, out_ch))  # (B, py, px, C, H + 1, W + 1)
    rows = [
        torch.stack([y[:, py, 0, :, py : py + height, :width], y[:, py, 1, :, py : py + height, 1 : width + 1]], -1)
        for py in (0, 1)
    ]
    return torch.stack(rows, 3).reshape(x.shape[0], out_ch, 2 * height, 2 * width)


class UpBlock(ConvNormRelu):
    """nearest x2 -> 3x3 conv -> norm -> ReLU (computed as four 2x2 convolutions at the input resolution)."""

    def __init__(self, in_ch: int, out_ch: int, norm: str):
        super().__init__(in_ch, out_ch, 3, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] * x.shape[-1] < _PHASE_MIN_PIXELS:  # small maps: folding the kernel costs more than it saves
            return super().forward(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        folded = fold_batch_norm(self.conv, self.norm)
        if folded is None:
            return F.relu(self.norm(upsample_conv3x3(x, self.conv.weight, self.conv.bias)))
        return F.relu(upsample_conv3x3(x, *folded), inplace=True)


class ResBlock(nn.Module):
    """Pre-activation residual block: x + conv2(relu(norm2(conv1(relu(norm1(x))))))."""

    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm1 = _norm(norm, channels)
        self.norm2 = _norm(norm, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        folded = fold_batch_norm(self.conv1, self.norm2)
        if folded is None:
            out = F.relu(self.norm2(self.conv1(F.relu(self.norm1(x)))))
        else:
            out = F.relu(F.conv2d(F.relu(self.norm1(x)), *folded, padding=1), inplace=True)
        return x + self.conv2(out)


class Encoder(nn.Module):
    def __init__(self, config: HDTFAnimationToVideoConfig):
        super().__init__()
        c = config
        self.in_conv = ConvNormRelu(c.num_channels, c.block_expansion, 7, c.norm_type)
        widths = [min(c.max_features, c.block_expansion * 2**i) for i in range(c.num_down_blocks + 1)]
        self.down_blocks = nn.ModuleList(
            DownBlock(widths[i], widths[i + 1], c.norm_type) for i in range(c.num_down_blocks)
        )


class Decoder(nn.Module):
    def __init__(self, config: HDTFAnimationToVideoConfig):
        super().__init__()
        c = config
        widths = [min(c.max_features, c.block_expansion * 2**i) for i in range(c.num_down_blocks, -1, -1)]
        self.up_blocks = nn.ModuleList(UpBlock(widths[i], widths[i + 1], c.norm_type) for i in range(c.num_down_blocks))
        self.out_conv = nn.Conv2d(c.block_expansion, c.out_channels, 7, padding=3)


class Bottleneck(nn.Module):
    def __init__(self, config: HDTFAnimationToVideoConfig):
        super().__init__()
        self.bottleneck = nn.ModuleList(
            ResBlock(config.feature_channels, config.norm_type) for _ in range(config.num_bottleneck_blocks)
        )


class HourglassEncoder(nn.Module):
    def __init__(self, in_features: int, expansion: int, max_features: int, num_blocks: int, norm: str):
        super().__init__()
        widths = [in_features] + [min(max_features, expansion * 2 ** (i + 1)) for i in range(num_blocks)]
        self.down_blocks = nn.ModuleList(DownBlock(widths[i], widths[i + 1], norm) for i in range(num_blocks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class HourglassDecoder(nn.Module):
    def __init__(self, expansion: int, max_features: int, num_blocks: int, norm: str):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            in_ch = (1 if i == num_blocks - 1 else 2) * min(max_features, expansion * 2 ** (i + 1))
            blocks.append(UpBlock(in_ch, min(max_features, expansion * 2**i), norm))
        self.up_blocks = nn.ModuleList(blocks)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        skips = list(skips)
        out = skips.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return out


class Hourglass(nn.Module):
    """U-Net whose output concatenates the last up block with its own input (expansion + in_features channels)."""

    def __init__(self, in_features: int, expansion: int, max_features: int, num_blocks: int, norm: str):
        super().__init__()
        self.encoder = HourglassEncoder(in_features, expansion, max_features, num_blocks, norm)
        self.decoder = HourglassDecoder(expansion, max_features, num_blocks, norm)
        self.out_channels = expansion + in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class AntiAliasDownsample(nn.Module):
    """Gaussian blur then keep every (1/scale)-th pixel, as one strided depthwise convolution.

    The original blurred at full resolution and then subsampled; a stride-(1/scale) convolution computes exactly the
    kept outputs, 1/scale**2 of the work. The kernel is a buffer so converted checkpoints carry theirs.
    """

    def __init__(self, channels: int, scale: float, sigma: float, size: int):
        super().__init__()
        self.step = round(1 / scale)
        self.register_buffer("weight", gaussian_kernel(channels, sigma, size))
        self.sigma = sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.to(x.dtype)
        return F.conv2d(x, weight, stride=self.step, padding=weight.shape[-1] // 2, groups=weight.shape[0])


class ForegroundMatting(nn.Module):
    def __init__(self, config: HDTFAnimationToVideoConfig):
        super().__init__()
        c = config
        sigma, size = c.antialias_kernel_sigma, c.antialias_kernel_size
        self.down_sample_image = AntiAliasDownsample(c.num_channels, c.matting_scale, sigma, size)
        self.down_sample_flow = AntiAliasDownsample(2, c.matting_scale, sigma, size)
        in_features = 2 * c.num_channels + 2
        self.hourglass = Hourglass(
            in_features, c.hourglass_block_expansion, c.hourglass_max_features, c.hourglass_num_blocks, c.norm_type
        )
        k = c.mask_kernel_size
        hc = self.hourglass.out_channels
        self.foreground_mask = nn.Conv2d(hc, 1, k, padding=k // 2)
        self.matting_mask = nn.Conv2d(hc, 1, k, padding=k // 2)
        self.matting = nn.Conv2d(hc, c.feature_channels, k, padding=k // 2)
        # How far each reference's warped features can be trusted here, relative to the other references' (logits
        # of a softmax over references); only models trained with several references have it.
        self.confidence = nn.Conv2d(hc, 1, k, padding=k // 2) if c.has_confidence_head else None

    def forward(self, reference: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """(warped small image, foreground mask, matting mask, matting features, foreground flow, confidence logits or
        None without the head), all at 1/4 scale.

        Everything happens at the matting scale, in the released code's order: the reference and the flow are
        blurred and subsampled first, the small reference is warped by the small flow, and the foreground mask
        blends the small flow with an identity grid of that size.
        """
        # In the inputs' precision even under autocast: the flow is a coordinate grid, and bf16 would move its
        # samples by up to 1/4 pixel; the blur is depthwise and strided, so this costs little.
        with torch.autocast(reference.device.type, enabled=False):
            small_ref = self.down_sample_image(reference)
            small_flow = self.down_sample_flow(flow.permute(0, 3, 1, 2))
            small_grid = small_flow.permute(0, 2, 3, 1)
            warped = F.grid_sample(small_ref, small_grid, align_corners=False)
        hidden = self.hourglass(torch.cat([small_ref, small_flow, warped], dim=1))
        foreground = torch.sigmoid(self.foreground_mask(hidden))
        matting_mask = torch.sigmoid(self.matting_mask(hidden))
        mask = foreground.permute(0, 2, 3, 1)
        identity = coordinate_grid(*small_grid.shape[1:3], device=flow.device, dtype=small_grid.dtype)
        flow_foreground = small_grid * mask + (1 - mask) * identity
        confidence = None if self.confidence is None else self.confidence(hidden)
        return warped, foreground, matting_mask, self.matting(hidden), flow_foreground, confidence


def coordinate_grid(height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The zero-motion sampling grid (height, width, 2) as the released code forms it: ``2 * (i / (n - 1)) - 1``."""
    xs = 2 * (torch.arange(width, device=device, dtype=dtype) / (width - 1)) - 1
    ys = 2 * (torch.arange(height, device=device, dtype=dtype) / (height - 1)) - 1
    return torch.stack([xs.expand(height, width), ys[:, None].expand(height, width)], dim=-1)


def warp(features: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """grid_sample with the flow resized bilinearly to the feature size when they differ (original convention)."""
    if flow.shape[1:3] != features.shape[2:]:
        flow = F.interpolate(
            flow.permute(0, 3, 1, 2), size=features.shape[2:], mode="bilinear", align_corners=False
        ).permute(0, 2, 3, 1)
    dtype = torch.promote_types(features.dtype, flow.dtype)  # sample at the grid's precision (bf16 blurs it)
    return F.grid_sample(features.to(dtype), flow.to(dtype), align_corners=False)


class HDTFAnimationToVideoPreTrainedModel(HDTFPreTrainedModel):
    config_class = HDTFAnimationToVideoConfig  # explicit: with postponed annotations ``config`` is only a string
    config: HDTFAnimationToVideoConfig
    base_model_prefix = "animation2video"
    main_input_name = "reference_image"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """He-uniform convolutions (torch's default), unit norms, and the config's gaussian for anti-aliasing."""
        if isinstance(module, nn.Conv2d):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                fan_in = module.weight.shape[1] * module.weight.shape[2] * module.weight.shape[3]
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, (nn.BatchNorm2d, nn.InstanceNorm2d)):
            if module.weight is not None:
                init.ones_(module.weight)
                init.zeros_(module.bias)
            if getattr(module, "running_mean", None) is not None:
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
                init.zeros_(module.num_batches_tracked)
        elif isinstance(module, AntiAliasDownsample):
            channels, _, size, _ = module.weight.shape
            init.copy_(module.weight, gaussian_kernel(channels, module.sigma, size))


class HDTFAnimationToVideo(HDTFAnimationToVideoPreTrainedModel):
    """Flow-guided generator with foreground matting (HDTF, CVPR 2021), RGB in and out.

    ``forward(reference_image (B,3,H,W) in [0,1], dense_flow (B,H,W,2) sampling grid)``. For GPU speed put the model
    in ``channels_last`` (``model.to(memory_format=torch.channels_last)``; inputs follow automatically) and/or pass
    ``autocast_dtype=torch.bfloat16``.
    """

    def __init__(self, config: HDTFAnimationToVideoConfig):
        super().__init__(config)
        self.encoder = Encoder(config)
        self.foreground_matting = ForegroundMatting(config)
        self.bottleneck = Bottleneck(config)
        self.decoder = Decoder(config)
        self.gradient_checkpointing = False
        self.post_init()

    @classmethod
    def for_generator(cls, options: dict[str, Any], image_size: int, parts: dict[str, Any]) -> HDTFAnimationToVideo:
        """A new generator's rendering network: the preset's keyword arguments at the generator's image size
        (``hdtf.modeling.components``)."""
        return cls(HDTFAnimationToVideoConfig(image_size=image_size, **options))

    def _call(self, module: nn.Module, *args: torch.Tensor) -> torch.Tensor:
        if self.gradient_checkpointing and self.training:
            return self._gradient_checkpointing_func(module.__call__, *args)
        return module(*args)

    def _check_inputs(self, reference_image: torch.Tensor, dense_flow: torch.Tensor) -> None:
        c = self.config
        several = reference_image.ndim == 5
        if reference_image.ndim not in (4, 5) or reference_image.shape[-3] != c.num_channels:
            raise ValueError(
                f"reference_image must be (B, {c.num_channels}, H, W) or (B, R, {c.num_channels}, H, W), "
                f"got {tuple(reference_image.shape)}"
            )
        lead, (h, w) = reference_image.shape[: 2 if several else 1], reference_image.shape[-2:]
        if dense_flow.shape != (*lead, h, w, 2):
            shape = "(B, R, H, W, 2)" if several else "(B, H, W, 2)"
            raise ValueError(f"dense_flow must be {shape} = {(*lead, h, w, 2)}, got {tuple(dense_flow.shape)}")
        m = c.size_multiple
        if h % m or w % m:
            raise ValueError(f"image size {h}x{w} is not a multiple of {m} (1/matting_scale * 2**hourglass_num_blocks)")

    def encode(self, reference_image: torch.Tensor, autocast_dtype: torch.dtype | None = None) -> torch.Tensor:
        """Encoder features of references (B, 3, H, W) or (B, R, 3, H, W) -> (B[, R], C, H/4, W/4).

        They depend on the reference alone: a generator computes them once per reference and passes them to
        every frame's ``forward`` as ``reference_features`` instead of encoding the same picture for each frame.
        """
        lead = reference_image.shape[:-3]
        image = self._prepare_image(reference_image.flatten(0, -4))
        enabled = autocast_dtype is not None
        with torch.autocast(image.device.type, dtype=autocast_dtype or torch.bfloat16, enabled=enabled):
            features = self._encode(image)
        return features.unflatten(0, lead)

    def forward(
        self,
        reference_image: torch.Tensor,
        dense_flow: torch.Tensor,
        return_dict: bool = True,
        autocast_dtype: torch.dtype | None = None,
        reference_features: torch.Tensor | None = None,
    ) -> AnimationToVideoOutput | tuple[torch.Tensor, ...]:
        """Render one frame per item from its reference(s) and Fapp flow(s).

        One reference: ``reference_image`` (B, 3, H, W), ``dense_flow`` (B, H, W, 2): the one-shot model. Several:
        (B, R, 3, H, W) and (B, R, H, W, 2), one flow per reference (its own landmarks to the driving ones); each
        reference is encoded, warped and matted on its own, the R feature maps are fused per pixel (``config.
        reference_fusion``), and the bottleneck and decoder run once per item. ``reference_features``: the
        references' ``encode`` output, to skip the encoder (same leading shape as ``reference_image``).
        """
        self._check_inputs(reference_image, dense_flow)
        several = reference_image.ndim == 5
        image = self._prepare_image(reference_image.flatten(0, 1) if several else reference_image)
        flow = dense_flow.to(image.dtype)
        flow = flow.flatten(0, 1) if several else flow
        if reference_features is not None:
            reference_features = reference_features.flatten(0, 1) if several else reference_features
        with torch.autocast(
            image.device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None
        ):
            out = self._generate(image, flow, reference_features, reference_image.shape[1] if several else None)
        out = tuple(t.float() if autocast_dtype is not None and t is not None else t for t in out)
        if not several:
            out = out[:5]
        if not return_dict:
            return out
        return AnimationToVideoOutput(*out)

    def _prepare_image(self, image: torch.Tensor) -> torch.Tensor:
        """The reference in the weights' dtype and memory format."""
        weight = self.encoder.in_conv.conv.weight
        image = image.to(weight.dtype)
        if weight.is_contiguous(memory_format=torch.channels_last):
            image = image.contiguous(memory_format=torch.channels_last)
        return image

    def _encode(self, image: torch.Tensor) -> torch.Tensor:
        features = self._call(self.encoder.in_conv, image)
        for block in self.encoder.down_blocks:
            features = self._call(block, features)
        return features

    def _generate(
        self, image: torch.Tensor, flow: torch.Tensor, features: torch.Tensor | None, references: int | None
    ) -> tuple[torch.Tensor | None, ...]:
        """The released data flow per reference (``image`` and ``flow`` hold B * R of them when ``references`` is
        given), then the fusion of the R warped feature maps, then one bottleneck and decoder pass per item."""
        if features is None:
            features = self._encode(image)
        warped_image, foreground, matting_mask, matting, flow_foreground, confidence = self._call(
            self.foreground_matting, image, flow
        )
        features = warp(features, flow_foreground)
        features = matting_mask * features + (1 - matting_mask) * matting
        weights = None
        if references is not None:
            features, weights = self._fuse(features.unflatten(0, (-1, references)), confidence, references)
            warped_image, foreground, matting_mask, flow_foreground = (
                t.unflatten(0, (-1, references)) for t in (warped_image, foreground, matting_mask, flow_foreground)
            )
        for block in self.bottleneck.bottleneck:
            features = self._call(block, features)
        for block in self.decoder.up_blocks:
            features = self._call(block, features)
        synthetic = torch.sigmoid(self.decoder.out_conv(features))
        return synthetic, warped_image, foreground, matting_mask, flow_foreground, weights

    def _fuse(
        self, features: torch.Tensor, confidence: torch.Tensor | None, references: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, R, C, h, w) warped features -> (B, C, h, w) and the weights (B, R, 1, h, w).

        Confidence fusion: softmax over the references of the learned logits, per pixel, so a reference that shows
        the mouth interior (or the side of the face) the target needs can dominate there. Without the head (mean
        fusion, or a model trained with one reference) every reference weighs 1/R. One reference: weight 1 exactly,
        the features unchanged.
        """
        if references == 1:
            return features[:, 0], torch.ones_like(features[:, :, :1])
        if confidence is None:
            weights = torch.full_like(features[:, :, :1], 1.0 / references)
        else:
            weights = torch.softmax(confidence.unflatten(0, (-1, references)).float(), dim=1).to(features.dtype)
        return (features * weights).sum(dim=1), weights


def _register_auto_classes() -> None:
    """Let the Auto classes resolve "hdtf_animation2video" (and its face processor) once hdtf.modeling is loaded."""
    from transformers import AutoConfig, AutoImageProcessor, AutoModel

    from .processing_hdtf import HDTFFaceProcessor

    AutoConfig.register(HDTFAnimationToVideoConfig.model_type, HDTFAnimationToVideoConfig, exist_ok=True)
    AutoModel.register(HDTFAnimationToVideoConfig, HDTFAnimationToVideo, exist_ok=True)
    AutoImageProcessor.register(HDTFAnimationToVideoConfig, slow_image_processor_class=HDTFFaceProcessor, exist_ok=True)


_register_auto_classes()
