"""Audio-to-animation stage: per-frame speech windows → expression coefficients and a head-pose sequence.

Two branches share one audio encoder:

* **expression** (mouth, eyebrows, eyelids on the ``ExpressionBasis``): a bidirectional GRU over the per-frame audio
  embeddings; lip motion is mostly determined by the sound, so this branch is deterministic.
* **head pose** (6-d deltas, see ``animation_params``): a second GRU fed with prosody (frame energy, its change, the
  spread of energy within the window) plus a projection of the audio embedding, a *style* vector and per-frame
  noise. Energy/prosody is what ties nods and turns to the speech rhythm; the style vector is the paper's
  style-specific generator (learned per-style embeddings, or a short reference motion clip encoded by a GRU); the
  noise makes head motion a sample rather than an average, and is reproducible through ``torch.Generator``.

Targets are relative to the clip's rest state (``animation_params.clip_targets``): expression coefficients minus the
clip mean, pose deltas from the clip's mean pose. At generation time the reference photo is that rest state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers.utils import ModelOutput

from .animation_params import NUM_LANDMARKS, ExpressionBasis
from .configuration_audio2animation import HDTFAudioToAnimationConfig
from .losses import audio2animation_losses
from .modeling_utils import HDTFPreTrainedModel

__all__ = ["HDTFAudioToAnimation", "HDTFAudioToAnimationOutput", "HDTFAudioToAnimationPreTrainedModel"]


@dataclass
class HDTFAudioToAnimationOutput(ModelOutput):
    """``expression`` (B, T, K), ``pose`` (B, T, 6), ``style`` (B, style_dim); ``loss``/``losses`` with targets."""

    loss: torch.Tensor | None = None
    expression: torch.Tensor | None = None
    pose: torch.Tensor | None = None
    style: torch.Tensor | None = None
    losses: dict[str, torch.Tensor] | None = None


def _run_rnn(rnn: nn.GRU, x: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
    """Run a batch-first GRU; with padded sequences, pack them so the backward direction starts at each real end."""
    if frame_mask is None or bool(frame_mask.all()):
        return rnn(x)[0]
    lengths = frame_mask.sum(1).clamp_min(1).cpu()
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = rnn(packed)
    return nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]


class AudioWindowEncoder(nn.Module):
    """(N, window, feature) spectrogram patch → (N, hidden): strided 2-D convolutions, then global average pooling."""

    def __init__(self, config: HDTFAudioToAnimationConfig):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for out in config.conv_channels:
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), nn.GroupNorm(1, out), nn.GELU()]
            channels = out
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Linear(channels, config.hidden_size)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        feats = self.convs(windows[:, None])
        return self.proj(feats.mean(dim=(2, 3)))


class HDTFAudioToAnimationPreTrainedModel(HDTFPreTrainedModel):
    config_class = HDTFAudioToAnimationConfig  # explicit: with postponed annotations ``config`` is only a string
    config: HDTFAudioToAnimationConfig
    base_model_prefix = "audio2animation"
    main_input_name = "input_features"
    input_modalities = ("audio",)

    def _init_weights(self, module: nn.Module) -> None:
        """Small gaussian linear/conv/embedding weights (``initializer_range``), zero biases; GRUs keep torch's."""
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=self.config.initializer_range)


class HDTFAudioToAnimation(HDTFAudioToAnimationPreTrainedModel):
    """Speech feature windows → per-frame expression coefficients and head-pose deltas (see the module docstring).

    The expression basis (mean, components, out-of-plane fields) is stored as buffers so the landmark losses and
    the saved weights always agree with the basis the coefficients refer to.
    """

    def __init__(self, config: HDTFAudioToAnimationConfig):
        super().__init__(config)
        h, k = config.hidden_size, config.num_expression
        self.audio_encoder = AudioWindowEncoder(config)
        self.dropout = nn.Dropout(config.dropout)
        gru_dropout = config.dropout if config.num_layers > 1 else 0.0
        self.expression_rnn = nn.GRU(h, h, config.num_layers, batch_first=True, bidirectional=True, dropout=gru_dropout)
        self.expression_head = nn.Linear(2 * h, k)
        self.style_encoder = nn.GRU(2 * config.pose_dim, config.style_dim, batch_first=True)
        self.style_embedding = nn.Embedding(config.num_styles, config.style_dim) if config.num_styles > 0 else None
        self.pose_in = nn.Linear(h // 4 + 3 + config.style_dim + config.noise_dim, h)
        self.audio_to_pose = nn.Linear(h, h // 4)
        self.pose_rnn = nn.GRU(h, h, config.num_layers, batch_first=True, bidirectional=True, dropout=gru_dropout)
        self.pose_head = nn.Linear(2 * h, config.pose_dim)
        self.register_buffer("basis_mean", torch.zeros(NUM_LANDMARKS, 2))
        self.register_buffer("basis_components", torch.zeros(k, NUM_LANDMARKS, 2))
        self.register_buffer("basis_out_of_plane", torch.zeros(2, NUM_LANDMARKS, 2))
        self.post_init()

    @classmethod
    def for_generator(cls, options: dict[str, Any], image_size: int, parts: dict[str, Any]) -> HDTFAudioToAnimation:
        """A new generator's audio model: the preset's keyword arguments, its windows sized by the generator's
        feature extractor and its coefficients by the generator's expression basis (``hdtf.modeling.components``)."""
        extractor, basis = parts["feature_extractor"], parts["expression_basis"]
        config = HDTFAudioToAnimationConfig(feature_size=extractor.feature_size, window_length=extractor.window_length,
                                            num_expression=basis.num_components, **options)
        model = cls(config)
        model.set_basis(basis)
        return model

    def set_basis(self, basis: ExpressionBasis) -> None:
        """Copy the expression basis into the model's buffers (its K must equal ``config.num_expression``)."""
        if basis.num_components != self.config.num_expression:
            raise ValueError(
                f"basis has {basis.num_components} components, the model expects {self.config.num_expression}"
            )
        with torch.no_grad():
            for name, value in (
                ("basis_mean", basis.mean),
                ("basis_components", basis.components),
                ("basis_out_of_plane", basis.out_of_plane),
            ):
                getattr(self, name).copy_(torch.as_tensor(value, dtype=getattr(self, name).dtype))

    @staticmethod
    def prosody(input_features: torch.Tensor) -> torch.Tensor:
        """(B, T, 3) rhythm cues per frame: centre-frame energy, its change from the previous frame, window spread."""
        energy = input_features.mean(-1)  # (B, T, W): mean log-mel (or c0-dominated MFCC) per mel frame
        w = energy.shape[-1]
        centre = energy[..., w // 2 - 1 : w // 2 + 1].mean(-1)
        change = torch.diff(centre, dim=1, prepend=centre[:, :1])
        return torch.stack([centre, change, energy.std(-1)], -1)

    def encode_style(
        self, style_motion: torch.Tensor | None, style_id: torch.Tensor | None, batch: int, ref: torch.Tensor
    ) -> torch.Tensor:
        """Style vector (B, style_dim) from a reference motion clip (B, L, 6) of pose deltas and/or a style id.

        Neither given: zeros, the neutral style.
        """
        style = ref.new_zeros(batch, self.config.style_dim)
        if style_motion is not None:
            motion = style_motion.to(ref.dtype)
            velocity = torch.diff(motion, dim=1, prepend=motion[:, :1])
            _, last = self.style_encoder(torch.cat([motion, velocity], -1))
            style = style + last[-1]
        if style_id is not None:
            if self.style_embedding is None:
                raise ValueError("style_id given but the model has no style embeddings (config.num_styles == 0)")
            style = style + self.style_embedding(style_id.to(ref.device))
        return style

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
        style_motion: torch.Tensor | None = None,
        style_id: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        expression_target: torch.Tensor | None = None,
        pose_target: torch.Tensor | None = None,
        return_dict: bool = True,
        **kwargs,
    ) -> HDTFAudioToAnimationOutput | tuple:
        """``input_features`` (B, T, W, C) → expression (B, T, K), pose (B, T, 6); losses when targets are given.

        ``noise`` (B, T, noise_dim) overrides sampling; otherwise it is drawn from ``generator`` (same seed ⇒ same
        head motion). ``attention_mask`` (B, T, W) zeroes features outside the audio; ``frame_mask`` (B, T) marks
        real frames of padded batches: the GRUs skip the padding and the losses ignore it.
        """
        b, t, w, c = input_features.shape
        x = input_features.to(self.dtype)
        if attention_mask is not None:
            x = x * attention_mask.to(x.dtype)[..., None]
        emb = self.dropout(self.audio_encoder(x.reshape(b * t, w, c)).reshape(b, t, -1))
        expr_h = _run_rnn(self.expression_rnn, emb, frame_mask)
        expression = self.expression_head(self.dropout(expr_h))

        if noise is None:
            # Drawn on the generator's device (CPU by default) so a seed gives the same motion on any model device.
            device = generator.device if generator is not None else torch.device("cpu")
            noise = torch.randn(b, t, self.config.noise_dim, generator=generator, device=device)
        noise = noise.to(device=x.device, dtype=x.dtype)
        style = self.encode_style(style_motion, style_id, b, x)
        pose_in = torch.cat(
            [self.audio_to_pose(emb), self.prosody(x), style[:, None].expand(b, t, -1), noise], -1
        )
        pose_h = _run_rnn(self.pose_rnn, F.gelu(self.pose_in(pose_in)), frame_mask)
        pose = self.pose_head(self.dropout(pose_h))

        loss = losses = None
        if expression_target is not None and pose_target is not None:
            cfg = self.config
            losses = audio2animation_losses(
                expression,
                pose,
                expression_target.to(expression.dtype),
                pose_target.to(pose.dtype),
                self.basis_mean,
                self.basis_components,
                self.basis_out_of_plane,
                frame_mask,
                landmark_weight=cfg.landmark_loss_weight,
                mouth_weight=cfg.mouth_loss_weight,
                velocity_weight=cfg.velocity_loss_weight,
                pose_weight=cfg.pose_loss_weight,
                expression_weight=cfg.expression_loss_weight,
            )
            loss = losses["loss"]
        output = HDTFAudioToAnimationOutput(loss=loss, expression=expression, pose=pose, style=style, losses=losses)
        return output if return_dict else output.to_tuple()


def _register_auto_classes() -> None:
    """Let the Auto classes resolve "hdtf_audio2animation" (and its feature extractor) once hdtf.modeling is loaded."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

    from .feature_extraction_hdtf import HDTFFeatureExtractor

    AutoConfig.register(HDTFAudioToAnimationConfig.model_type, HDTFAudioToAnimationConfig, exist_ok=True)
    AutoModel.register(HDTFAudioToAnimationConfig, HDTFAudioToAnimation, exist_ok=True)
    AutoFeatureExtractor.register(HDTFAudioToAnimationConfig, HDTFFeatureExtractor, exist_ok=True)


_register_auto_classes()
