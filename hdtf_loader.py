"""datasets builder for HDTF (registered by ``import hdtf``). Placeholder until the pipeline lands."""
