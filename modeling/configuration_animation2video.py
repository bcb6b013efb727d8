"""Configuration of the animation-to-video generator; the defaults are those of the released HDTF checkpoint."""

import math

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

__all__ = ["FUSIONS", "HDTFAnimationToVideoConfig"]

FUSIONS = ("confidence", "mean")  # how the warped features of several references are combined


@strict
class HDTFAnimationToVideoConfig(PreTrainedConfig):
    r"""
    Hyper-parameters of [`HDTFAnimationToVideo`]: an image encoder/decoder around a flow-warped bottleneck, and a
    foreground-matting hourglass that runs at ``matting_scale`` of the image.

    Args:
        num_channels: image channels in (RGB).
        out_channels: image channels out.
        image_size: the resolution the weights were trained at (inputs may differ, see ``size_multiple``).
        num_down_blocks / block_expansion / max_features: encoder depth and widths (decoder mirrors it).
        num_bottleneck_blocks: residual blocks between encoder and decoder.
        hourglass_num_blocks / hourglass_block_expansion / hourglass_max_features: the matting hourglass.
        matting_scale: resolution of the matting branch relative to the image; must equal the encoder's
            ``1 / 2**num_down_blocks`` so its 256-channel matting features line up with the encoder features.
        antialias_sigma: sigma of the gaussian applied before down-sampling to ``matting_scale``; None = the
            original's ``(1 / scale - 1) / 2`` (1.5 for 0.25, a 13x13 kernel).
        mask_kernel_size: kernel of the three matting heads (foreground mask, matting mask, matting features).
        norm_type: "batch" (the original; BatchNorm2d with running statistics) or "instance".
        num_references: reference frames per item the weights were trained with. 1 is the released one-shot
            model; with more, each reference is warped by its own flow and the warped features are fused per pixel.
        reference_fusion: how several references are fused: "confidence" (a learned confidence map per reference,
            softmax over the references; its head exists when ``num_references > 1``) or "mean" (the plain average,
            the ablation). With a single reference there is nothing to fuse and the output is the one-shot model's.
    """

    model_type = "hdtf_animation2video"

    num_channels: int = 3
    out_channels: int = 3
    image_size: int = 512
    num_down_blocks: int = 2
    block_expansion: int = 64
    max_features: int = 512
    num_bottleneck_blocks: int = 2
    hourglass_num_blocks: int = 5
    hourglass_block_expansion: int = 64
    hourglass_max_features: int = 512
    matting_scale: float = 0.25
    antialias_sigma: float | None = None
    mask_kernel_size: int = 7
    norm_type: str = "batch"
    num_references: int = 1
    reference_fusion: str = "confidence"

    def __post_init__(self, **kwargs):
        if self.norm_type not in ("batch", "instance"):
            raise ValueError(f"norm_type must be 'batch' or 'instance', got {self.norm_type!r}")
        if not math.isclose(self.matting_scale, 1 / 2**self.num_down_blocks):
            raise ValueError(
                f"matting_scale {self.matting_scale} must equal 1/2**num_down_blocks = {1 / 2**self.num_down_blocks} "
                "so that the matting features align with the encoder features"
            )
        if self.num_references < 1:
            raise ValueError(f"num_references must be at least 1, got {self.num_references}")
        if self.reference_fusion not in FUSIONS:
            raise ValueError(f"reference_fusion must be one of {FUSIONS}, got {self.reference_fusion!r}")
        if self.mask_kernel_size % 2 == 0:
            raise ValueError(f"mask_kernel_size must be odd, got {self.mask_kernel_size}")
        super().__post_init__(**kwargs)

    @property
    def feature_channels(self) -> int:
        """Channels of the encoder output, the bottleneck and the matting features (256 for the original)."""
        return min(self.max_features, self.block_expansion * 2**self.num_down_blocks)

    @property
    def antialias_kernel_sigma(self) -> float:
        return self.antialias_sigma if self.antialias_sigma is not None else (1 / self.matting_scale - 1) / 2

    @property
    def antialias_kernel_size(self) -> int:
        """2 * round(4 sigma) + 1: 13 for the original's sigma 1.5."""
        return 2 * round(self.antialias_kernel_sigma * 4) + 1

    @property
    def has_confidence_head(self) -> bool:
        """Whether the weights include the per-reference confidence head (trained with several references)."""
        return self.num_references > 1 and self.reference_fusion == "confidence"

    @property
    def size_multiple(self) -> int:
        """Input height/width must be a multiple of this: the hourglass halves the 1/scale image num_blocks times."""
        return round(1 / self.matting_scale) * 2**self.hourglass_num_blocks
