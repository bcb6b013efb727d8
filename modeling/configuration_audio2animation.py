"""Configuration of the audio-to-animation stage (speech windows → expression coefficients + head pose)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

__all__ = ["HDTFAudioToAnimationConfig"]


@strict
class HDTFAudioToAnimationConfig(PreTrainedConfig):
    r"""
    Hyper-parameters of [`HDTFAudioToAnimation`]: the audio encoder, the expression and pose sequence models, the
    style/noise inputs and the loss weights.

    Args:
        feature_size / window_length: must match the feature extractor (mel bins, mel frames per video-frame window).
        num_expression: K, the number of components of the expression basis the coefficients refer to.
        pose_dim: 6 (see ``animation_params``).
        conv_channels: output channels of the strided convolutions of the audio window encoder.
        hidden_size / num_layers: width and depth of the bidirectional GRUs.
        style_dim / num_styles: style vector size; learned per-style embeddings when ``num_styles > 0``.
        noise_dim: per-frame noise that makes head motion a sample.
        dropout / initializer_range: regularisation and the std of the initial linear/conv weights.
        *_loss_weight: weights of ``losses.audio2animation_losses``.
    """

    model_type = "hdtf_audio2animation"

    feature_size: int = 80
    window_length: int = 20
    num_expression: int = 18
    pose_dim: int = 6
    conv_channels: list[int] | tuple[int, ...] = (32, 64, 128)
    hidden_size: int = 256
    num_layers: int = 2
    style_dim: int = 32
    num_styles: int = 0
    noise_dim: int = 16
    dropout: float | int = 0.1
    initializer_range: float = 0.02
    landmark_loss_weight: float | int = 1.0
    mouth_loss_weight: float | int = 2.0
    velocity_loss_weight: float | int = 0.5
    pose_loss_weight: float | int = 1.0
    expression_loss_weight: float | int = 0.1

    def __post_init__(self, **kwargs):
        self.conv_channels = list(self.conv_channels)  # JSON has no tuples: the saved and the loaded config agree
        super().__post_init__(**kwargs)
