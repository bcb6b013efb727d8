"""Curation cores for today's trainers' preprocessing chains: scene cuts and the face-aligned view.

Each core is an *accumulator* that a shared decode of a clip feeds frame by frame, so that every per-frame step
costs no decode of its own: ``begin(fps, size)``, then ``frame(index, rgb)`` for each frame in order (RGB uint8,
(H, W, 3)), then ``end()`` returns the result. :func:`hdtf.curate.stream.run_on_file` decodes a file once and feeds
any number of them; the stages of ``hdtf prepare`` wrap the same classes. ``import hdtf`` never imports this package;
cv2, PyAV and scenedetect load on first use.
"""
