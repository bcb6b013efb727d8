"""Scene cuts (hdtf.curate.scenes) on real renders: a hard cut between two faces is found at its frame, one shot has
none, the streaming form agrees with PySceneDetect's own run, and the spans --split-at-cuts makes."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.curate_clips import hard_cut, moving_face  # noqa: F401

from hdtf.curate.scenes import DEFAULT_THRESHOLD, SceneCutDetector, detect_cuts, split_spans
from hdtf.curate.stream import run_on_file


def test_a_hard_cut_between_two_faces_is_found_at_its_frame(hard_cut):  # noqa: F811
    found = detect_cuts(hard_cut.path)
    assert found.detector == "adaptive" and found.threshold == 2.0  # LatentSync's detect-adaptive --threshold 2
    assert found.num_frames == hard_cut.num_frames and found.fps == pytest.approx(25.0)
    assert len(found.frames) == 1 and abs(found.frames[0] - hard_cut.cut_frame) <= 1
    assert found.cuts[0] == pytest.approx(hard_cut.cut_frame / hard_cut.fps, abs=1 / hard_cut.fps + 1e-9)
    # The content detector (fixed threshold) sees the same cut; a threshold no frame reaches sees none.
    content = detect_cuts(hard_cut.path, detector="content")
    assert content.threshold == DEFAULT_THRESHOLD["content"] and content.frames == found.frames
    assert detect_cuts(hard_cut.path, detector="content", threshold=250.0).cuts == ()


def test_one_shot_of_a_moving_head_has_no_cut(moving_face):  # noqa: F811
    found = detect_cuts(moving_face.path)
    assert found.cuts == () and found.num_frames == moving_face.num_frames
    assert found.spans(min_length=1.0) == [(0.0, pytest.approx(moving_face.num_frames / moving_face.fps))]


def test_the_streamed_detector_agrees_with_pyscenedetects_own_run(hard_cut):  # noqa: F811
    """Frames from hdtf's decode (the stages' shared one) give the cuts ``scenedetect detect-adaptive`` gives."""
    from scenedetect import AdaptiveDetector, detect

    scenes = detect(str(hard_cut.path), AdaptiveDetector(adaptive_threshold=2.0, min_scene_len=15))
    reference = tuple(start.frame_num for start, _ in scenes[1:])
    assert reference and abs(reference[0] - hard_cut.cut_frame) <= 1
    (streamed,) = run_on_file(hard_cut.path, [SceneCutDetector()])
    assert streamed.frames == reference


def test_frames_pushed_by_hand_give_the_same_cuts(hard_cut):  # noqa: F811
    """The accumulator form as a stage drives it: begin, frame by frame, end."""
    import av

    detector = SceneCutDetector(min_scene_seconds=0.6)
    with av.open(str(hard_cut.path)) as container:
        stream = container.streams.video[0]
        detector.begin(float(stream.average_rate), (stream.codec_context.width, stream.codec_context.height))
        for index, frame in enumerate(container.decode(stream)):
            detector.frame(index, frame.to_ndarray(format="rgb24"))
    assert detector.end().frames == detect_cuts(hard_cut.path).frames


def test_split_spans_cut_at_the_cuts_and_drop_short_shots_without_merging():
    assert split_spans([1.48], 3.08, min_length=0.5) == [(0.0, 1.48), (1.48, 3.08)]
    # A shot shorter than min_length is dropped, never merged (that would put the cut back inside a clip).
    assert split_spans([0.3, 1.48], 3.08, min_length=0.5) == [(0.3, 1.48), (1.48, 3.08)]
    assert split_spans([1.48], 3.08, min_length=2.0) == []
    # trim leaves frames next to each cut out of both neighbours, not at the clip's own ends.
    spans = split_spans([1.0, 2.0], 3.0, min_length=0.0, trim=0.04)
    assert np.allclose(spans, [(0.0, 0.96), (1.04, 1.96), (2.04, 3.0)])
    # Cuts at or past the clip's ends are not cuts; no cut: the whole clip.
    assert split_spans([0.0, 3.0, 4.0], 3.0, min_length=1.0) == [(0.0, 3.0)]
    with pytest.raises(ValueError):
        split_spans([1.0], 3.0, min_length=-1.0)


def test_bad_options_are_refused_in_one_line():
    with pytest.raises(ValueError, match="adaptive, content"):
        SceneCutDetector("histogram")
    with pytest.raises(ValueError, match="positive"):
        SceneCutDetector(threshold=0)
