"""hdtf.modeling: the flow-guided one-shot talking-face models (installed from ``modeling/`` as ``hdtf.modeling``)."""

from .animation_params import ExpressionBasis
from .configuration_audio2animation import HDTFAudioToAnimationConfig
from .feature_extraction_hdtf import HDTFFeatureExtractor
from .generator import HDTFGenerator, HDTFGeneratorOutput
from .modeling_audio2animation import HDTFAudioToAnimation, HDTFAudioToAnimationOutput
