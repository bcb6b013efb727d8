"""Curation cores for today's trainers' preprocessing chains: per-clip measures, scene cuts, the face-aligned view,
quality scores, embeddings, masks and face JSON, which the curation stages of ``hdtf prepare`` wrap.

Each per-frame core is an *accumulator* that one shared decode of a clip feeds frame by frame, so that no step costs
a decode of its own: ``begin(fps, size)``, then ``frame(index, rgb, landmarks)`` for each frame in order (RGB uint8,
(H, W, 3); the 68 tracked points or None), then ``end()`` returns the result. ``import hdtf`` never imports this
package; cv2, PyAV, onnxruntime, transformers and scenedetect load on first use.
"""
