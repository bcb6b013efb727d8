"""What both hdtf networks share as transformers models: a ``from_pretrained`` whose outputs do not depend on where
the memory-mapped weights happen to lie."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel

__all__ = ["HDTFPreTrainedModel", "realign_weights"]


def realign_weights(module: nn.Module) -> nn.Module:
    """Copy parameters/buffers that sit at unaligned addresses (memory-mapped safetensors) into fresh memory.

    CPU kernels (GRU, matmul) pick vector code paths by alignment, so an unaligned copy of the very same weights
    can differ in the last bit of the outputs; realigning makes a saved-and-reloaded model reproduce exactly.
    """
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.numel() and tensor.data_ptr() % 64:
                tensor.data = tensor.data.clone()
    for sub in module.modules():
        if isinstance(sub, nn.RNNBase):
            sub.flatten_parameters()
    return module


class HDTFPreTrainedModel(PreTrainedModel):
    """Base of the per-model bases (``HDTFAudioToAnimationPreTrainedModel``, ``HDTFAnimationToVideoPreTrainedModel``)."""

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """``PreTrainedModel.from_pretrained`` with the weights realigned (see ``realign_weights``)."""
        return realign_weights(super().from_pretrained(*args, **kwargs))
