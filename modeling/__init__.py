"""hdtf.modeling: the flow-guided one-shot talking-face models (installed from ``modeling/`` as ``hdtf.modeling``)."""

from .configuration_animation2video import HDTFAnimationToVideoConfig
from .fapp import construct_fapp, flow_to_color, identity_grid
from .modeling_animation2video import AnimationToVideoOutput, HDTFAnimationToVideo
from .animation_params import ExpressionBasis
from .configuration_audio2animation import HDTFAudioToAnimationConfig
from .feature_extraction_hdtf import HDTFFeatureExtractor
from .generator import HDTFGenerator, HDTFGeneratorOutput
from .modeling_audio2animation import HDTFAudioToAnimation, HDTFAudioToAnimationOutput

__all__ = [
    "AnimationToVideoOutput",
    "ExpressionBasis",
    "HDTFAnimationToVideo",
    "HDTFAnimationToVideoConfig",
    "HDTFAudioToAnimation",
    "HDTFAudioToAnimationConfig",
    "HDTFAudioToAnimationOutput",
    "HDTFFeatureExtractor",
    "HDTFGenerator",
    "HDTFGeneratorOutput",
    "construct_fapp",
    "flow_to_color",
    "identity_grid",
]
