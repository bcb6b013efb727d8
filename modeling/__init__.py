"""hdtf.modeling: the flow-guided one-shot talking-face models (installed from ``modeling/`` as ``hdtf.modeling``)."""

from .animation_params import ExpressionBasis
from .configuration_animation2video import HDTFAnimationToVideoConfig
from .configuration_audio2animation import HDTFAudioToAnimationConfig
from .fapp import construct_fapp, construct_fapp_references, flow_to_color, identity_grid
from .feature_extraction_hdtf import HDTFFeatureExtractor
from .generator import HDTFGenerator, HDTFGeneratorOutput
from .modeling_animation2video import (
    AnimationToVideoOutput,
    HDTFAnimationToVideo,
    HDTFAnimationToVideoPreTrainedModel,
)
from .modeling_audio2animation import (
    HDTFAudioToAnimation,
    HDTFAudioToAnimationOutput,
    HDTFAudioToAnimationPreTrainedModel,
)
from .processing_hdtf import HDTFFaceProcessor

__all__ = [
    "AnimationToVideoOutput",
    "ExpressionBasis",
    "HDTFAnimationToVideo",
    "HDTFAnimationToVideoConfig",
    "HDTFAnimationToVideoPreTrainedModel",
    "HDTFAudioToAnimation",
    "HDTFAudioToAnimationConfig",
    "HDTFAudioToAnimationOutput",
    "HDTFAudioToAnimationPreTrainedModel",
    "HDTFFaceProcessor",
    "HDTFFeatureExtractor",
    "HDTFGenerator",
    "HDTFGeneratorOutput",
    "construct_fapp",
    "construct_fapp_references",
    "flow_to_color",
    "identity_grid",
]
