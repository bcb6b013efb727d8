"""hdtf.modeling: the flow-guided one-shot talking-face models (installed from ``modeling/`` as ``hdtf.modeling``)."""
