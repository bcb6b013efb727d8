"""Configuration of the audio-to-animation stage (speech windows → expression coefficients + head pose)."""

from __future__ import annotations

from transformers import PretrainedConfig


class HDTFAudioToAnimationConfig(PretrainedConfig):
    """Sizes of the audio encoder, the expression and pose sequence models, the style/noise inputs, loss weights.

    ``feature_size``/``window_length`` must match the feature extractor (mel bins, mel frames per video frame
    window); ``num_expression`` matches the expression basis (K); ``pose_dim`` is 6 (see ``animation_params``).
    """

    model_type = "hdtf_audio2animation"

    def __init__(
        self,
        feature_size: int = 80,
        window_length: int = 20,
        num_expression: int = 18,
        pose_dim: int = 6,
        conv_channels: tuple[int, ...] | list[int] = (32, 64, 128),
        hidden_size: int = 256,
        num_layers: int = 2,
        style_dim: int = 32,
        num_styles: int = 0,
        noise_dim: int = 16,
        dropout: float = 0.1,
        initializer_range: float = 0.02,
        landmark_loss_weight: float = 1.0,
        mouth_loss_weight: float = 2.0,
        velocity_loss_weight: float = 0.5,
        pose_loss_weight: float = 1.0,
        expression_loss_weight: float = 0.1,
        **kwargs,
    ):
        self.feature_size = feature_size
        self.window_length = window_length
        self.num_expression = num_expression
        self.pose_dim = pose_dim
        self.conv_channels = list(conv_channels)
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.style_dim = style_dim
        self.num_styles = num_styles
        self.noise_dim = noise_dim
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.landmark_loss_weight = landmark_loss_weight
        self.mouth_loss_weight = mouth_loss_weight
        self.velocity_loss_weight = velocity_loss_weight
        self.pose_loss_weight = pose_loss_weight
        self.expression_loss_weight = expression_loss_weight
        super().__init__(**kwargs)
