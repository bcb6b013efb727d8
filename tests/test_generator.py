"""HDTFGenerator with the tiny preset's random weights on real photos and real speech: shapes, frame counts,
exact save/load reproduction, seeded head motion, video-driven motion transfer, clear errors."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
import torch
from fixtures.talking_face import talking_face_factory, talking_face_small  # noqa: F401
from hdtf.modeling.generator import CONFIG_FILE, HDTFGenerator, prepare_reference

from hdtf.errors import HDTFError

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def generator() -> HDTFGenerator:
    return HDTFGenerator.from_preset("tiny", seed=0)


@pytest.fixture(scope="module")
def speech_3s(speech_wav) -> np.ndarray:
    import soundfile as sf

    audio, rate = sf.read(str(speech_wav), dtype="float32")
    return audio[rate : 4 * rate]  # 3 s of real speech


def test_audio_mode_save_load_reproduces(generator, face_photo, speech_3s, tmp_path):
    start = time.perf_counter()
    out = generator(face_photo, audio=speech_3s, seed=3, batch_size=25, return_intermediates=True)
    elapsed = time.perf_counter() - start
    print(f"\ntiny preset, CPU: photo + 3 s speech -> 75 frames in {elapsed:.1f} s")
    assert out.frames.shape == (75, 128, 128, 3) and out.frames.dtype == np.uint8  # one frame per 40 ms
    assert out.landmarks.shape == (75, 68, 2) and out.expression.shape[0] == 75 and out.pose.shape == (75, 6)
    assert out.flows.shape == (75, 128, 128, 2) and out.foreground_mask.shape == (75, 128, 128)
    assert out.audio.shape == (48000,) and out.sampling_rate == 16000
    assert out.warped.std() > 20  # the Fapp-warped photo is a picture (the untrained decoder's output is grey)
    # The reference face is framed like the training clips: landmarks inside, face about half the side.
    lo, hi = out.reference_landmarks.min(0), out.reference_landmarks.max(0)
    assert (lo > 0).all() and (hi < 128).all() and 0.35 < (hi - lo).max() / 128 < 0.75

    generator.save_pretrained(tmp_path / "model")
    names = {p.name for p in (tmp_path / "model").iterdir()}
    assert names == {CONFIG_FILE, "README.md", "feature_extractor", "audio2animation", "animation2video",
                     "expression_basis.safetensors"}
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left
    loaded = HDTFGenerator.from_pretrained(tmp_path / "model")
    again = loaded(face_photo, audio=speech_3s, seed=3, batch_size=25)
    np.testing.assert_array_equal(again.frames, out.frames)
    np.testing.assert_array_equal(again.landmarks, out.landmarks)
    # A Hub repo id resolves through the Hub cache (offline here: HF_HUB_OFFLINE=1 from conftest).
    snapshot = tmp_path / "hub" / "models--someone--tiny-talker" / "snapshots" / ("0" * 40)
    shutil.copytree(tmp_path / "model", snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    from_hub = HDTFGenerator.from_pretrained("someone/tiny-talker", cache_dir=tmp_path / "hub")
    assert from_hub.config == loaded.config

    other = loaded(face_photo, audio=speech_3s[:16000], seed=4)
    assert other.frames.shape[0] == 25
    assert not np.allclose(other.pose, out.pose[:25])  # another seed, another head motion


def test_video_driven_transfers_motion(generator, face_photo, talking_face_small):  # noqa: F811
    video = talking_face_small  # the astronaut speaking (espeak-ng), 2 s at 640x360, ground-truth landmarks
    out = generator(face_photo, driving_video=video.path, batch_size=25)
    assert out.frames.shape == (video.num_frames, 128, 128, 3)
    assert out.audio is not None and len(out.audio) == round(video.num_frames / 25 * 16000)
    # Motion is relative to the driver's first frame: frame 0 is the reference face itself.
    np.testing.assert_allclose(out.landmarks[0], out.reference_landmarks, atol=1e-3)
    # The driver's mouth opening (ground truth of the synthetic video) drives the reference's mouth.
    drv_open = video.landmarks[:, 66, 1] - video.landmarks[:, 62, 1]
    ref_open = out.landmarks[:, 66, 1] - out.landmarks[:, 62, 1]
    assert np.corrcoef(drv_open, ref_open)[0, 1] > 0.8
    # ...but not its face shape: the reference keeps its own inter-ocular/mouth-width ratio.
    def ratio(p):  # mouth width / outer eye-corner distance
        width = np.linalg.norm(p[..., 54, :] - p[..., 48, :], axis=-1)
        return width / np.linalg.norm(p[..., 45, :] - p[..., 36, :], axis=-1)

    assert abs(ratio(out.landmarks[0]) - ratio(out.reference_landmarks)) < 1e-3
    assert abs(ratio(out.landmarks).mean() - ratio(video.landmarks).mean()) > abs(
        ratio(out.landmarks).mean() - ratio(out.reference_landmarks))


def test_style_video_sets_head_motion_style(generator, face_photo, speech_3s, talking_face_small):  # noqa: F811
    style = generator.style_from_video(talking_face_small.path)
    assert style.shape == (talking_face_small.num_frames, 6)
    np.testing.assert_allclose(style[:, [0, 1, 4, 5]].mean(0), 0, atol=1e-5)  # deltas from the mean pose
    assert style[:, 2:4].std() > 0.01  # the synthetic speaker moves its head
    plain = generator(face_photo, audio=speech_3s[:16000], seed=0)
    styled = generator(face_photo, audio=speech_3s[:16000], seed=0, style_motion=style)
    assert not np.allclose(plain.pose, styled.pose)
    np.testing.assert_array_equal(plain.expression, styled.expression)


def test_reference_framing_on_a_wide_image(face_photo):
    from PIL import Image

    photo = np.asarray(Image.open(face_photo).convert("RGB"))
    wide = np.zeros((512, 1100, 3), np.uint8)
    wide[:, 500:1012] = photo
    image, points = prepare_reference(wide, 128)
    _, square_points = prepare_reference(photo, 128)
    assert image.shape == (128, 128, 3)
    centre = (points.min(0) + points.max(0)) / 2
    assert abs(centre[0] - 64) < 1.0  # room on both sides: the crop is centred on the face
    np.testing.assert_allclose(np.ptp(points, 0), np.ptp(square_points, 0), atol=1.5)  # same scale


def test_errors_are_one_line(generator, tmp_path, speech_3s):
    from PIL import Image

    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(blank)
    with pytest.raises(HDTFError, match="wall.png: no face"):
        generator(blank, audio=speech_3s)
    with pytest.raises(HDTFError, match="not found"):
        HDTFGenerator.from_pretrained(tmp_path / "missing")
    with pytest.raises(HDTFError, match="not an hdtf model directory"):
        HDTFGenerator.from_pretrained(tmp_path)
    with pytest.raises(HDTFError, match="cannot be downloaded from the Hugging Face Hub"):
        HDTFGenerator.from_pretrained("nobody/no-such-model")
    with pytest.raises(ValueError, match="exactly one"):
        generator(blank)


def test_saved_model_directory_is_readable_by_others(tmp_path):
    """safetensors and mkdtemp make owner-only files; a model directory is meant to be shared."""
    import stat

    HDTFGenerator.from_preset("tiny").save_pretrained(tmp_path / "model")
    for item in [tmp_path / "model", *(tmp_path / "model").rglob("*")]:
        assert item.stat().st_mode & stat.S_IROTH, item


def test_components_are_recorded_and_looked_up_in_the_allow_list(tmp_path):
    """generator_config.json names each component's class and place; loading constructs only registered classes,
    and a directory written before the records existed (version 1) still loads."""
    import json

    from transformers import AutoImageProcessor

    from hdtf.modeling import HDTFFaceProcessor

    model = HDTFGenerator.from_preset("tiny").save_pretrained(tmp_path / "model")
    config = json.loads((model / CONFIG_FILE).read_text())
    assert config["version"] == 2 and config["components"]["face_processor"] == {
        "library": "hdtf.modeling", "class": "HDTFFaceProcessor", "path": "animation2video"}
    assert {name: r["class"] for name, r in config["components"].items()} == {
        "feature_extractor": "HDTFFeatureExtractor", "expression_basis": "ExpressionBasis",
        "audio2animation": "HDTFAudioToAnimation", "animation2video": "HDTFAnimationToVideo",
        "face_processor": "HDTFFaceProcessor"}
    processor = AutoImageProcessor.from_pretrained(model / "animation2video")  # loads on its own, like any part
    assert isinstance(processor, HDTFFaceProcessor) and (processor.size, processor.face_fraction) == (128, 0.5)

    def rewrite(**changes):
        (model / CONFIG_FILE).write_text(json.dumps({**config, **changes}))

    rewrite(components={**config["components"], "expression_basis": {
        "library": "os", "class": "system", "path": "expression_basis.safetensors"}})
    with pytest.raises(HDTFError, match=r"unknown component class os\.system"):
        HDTFGenerator.from_pretrained(model)
    rewrite(components={**config["components"], "animation2video": {
        "library": "hdtf.modeling", "class": "HDTFAnimationToVideo", "path": "../elsewhere"}})
    with pytest.raises(HDTFError, match="malformed component record"):
        HDTFGenerator.from_pretrained(model)

    # Version 1: no records and no face processor file; today's classes and a default processor stand in.
    (model / "animation2video" / "preprocessor_config.json").unlink()
    legacy = {k: v for k, v in config.items() if k != "components"}
    (model / CONFIG_FILE).write_text(json.dumps({**legacy, "version": 1}))
    loaded = HDTFGenerator.from_pretrained(model)
    assert loaded.config == {**legacy, "version": 2} and loaded.face_processor.size == 128
    loaded.save_pretrained(model)  # saved again: the current format, with records
    assert json.loads((model / CONFIG_FILE).read_text())["components"] == config["components"]


def test_one_preset_constructor_takes_overrides():
    wide = HDTFGenerator.from_preset("tiny", overrides={"image_size": 256, "animation2video": {"block_expansion": 4}})
    assert (wide.image_size, wide.face_processor.size, wide.config["preset"]) == (256, 256, "tiny (modified)")
    assert wide.animation2video.config.block_expansion == 4 and wide.animation2video.config.max_features == 32
    assert HDTFGenerator.from_preset("tiny", overrides={"image_size": 128}).config["preset"] == "tiny"
    with pytest.raises(ValueError, match=r"unknown keys \['depth'\]"):
        HDTFGenerator.from_preset("tiny", overrides={"depth": 3})



class _Caption:
    """A toy generator component (a caption stored as JSON): the whole of what a new kind needs, for the test below."""

    def __init__(self, text: str = "none"):
        self.text = text

    def save_pretrained(self, path) -> None:
        import json

        path.write_text(json.dumps({"text": self.text}))

    @classmethod
    def from_pretrained(cls, path) -> _Caption:
        import json

        return cls(**json.loads(path.read_text()))

    @classmethod
    def for_generator(cls, options: dict, image_size: int, parts: dict) -> _Caption:
        return cls(**options)


def test_a_component_is_one_declaration(monkeypatch, tmp_path):
    """One line in GENERATOR_COMPONENTS adds a part: from_preset builds it from its preset key, save writes and records
    it, the card lists it, loading reads it back; directories written without it load with its default."""
    import json

    from hdtf.modeling import components

    declared = components.GENERATOR_COMPONENTS
    plain = HDTFGenerator.from_preset("tiny").save_pretrained(tmp_path / "plain")  # before the line is added
    monkeypatch.setattr(components, "GENERATOR_COMPONENTS", (*declared, components.Component(
        "caption", "caption.json", _Caption, optional=True, preset_key="caption", role="a caption")))

    model = HDTFGenerator.from_preset("tiny", overrides={"caption": {"text": "hello"}}).save_pretrained(tmp_path / "m")
    assert json.loads((model / "caption.json").read_text()) == {"text": "hello"}
    assert json.loads((model / CONFIG_FILE).read_text())["components"]["caption"] == {
        "library": "hdtf.modeling", "class": "_Caption", "path": "caption.json"}
    assert "| `caption` | `caption.json` | `_Caption` | optional | a caption |" in (model / "README.md").read_text()
    assert HDTFGenerator.from_pretrained(model).caption.text == "hello"
    assert HDTFGenerator.from_pretrained(plain).caption.text == "none"  # optional: older directories get the default
    with pytest.raises(ValueError, match=r"unknown keys \['captions'\]"):
        HDTFGenerator.from_preset("tiny", overrides={"captions": {}})


def test_the_declaration_gives_the_layout_presets_and_allow_list():
    """Today's declaration: the version-1 layout is the required parts, every preset key names a component."""
    from hdtf.modeling.components import GENERATOR_COMPONENTS, preset_keys, version_1_records
    from hdtf.modeling.presets import PRESETS

    assert [c.name for c in GENERATOR_COMPONENTS if c.optional] == ["face_processor"]
    assert {n: (r["class"], r["path"]) for n, r in version_1_records().items()} == {
        "feature_extractor": ("HDTFFeatureExtractor", "feature_extractor"),
        "expression_basis": ("ExpressionBasis", "expression_basis.safetensors"),
        "audio2animation": ("HDTFAudioToAnimation", "audio2animation"),
        "animation2video": ("HDTFAnimationToVideo", "animation2video")}
    for spec in PRESETS.values():
        assert set(spec) <= {"image_size", *preset_keys()}

def _todays_render(generator: HDTFGenerator, out) -> np.ndarray:
    """Frames as the one-shot render computed them before issue 25: the reference encoded once per frame."""
    from hdtf.modeling.fapp import construct_fapp

    ref = torch.from_numpy(np.array(out.reference_image)).permute(2, 0, 1)[None].float() / 255.0
    grid = construct_fapp(torch.as_tensor(out.reference_landmarks, dtype=torch.float64),
                          torch.as_tensor(out.landmarks, dtype=torch.float64), generator.image_size).float()
    with torch.no_grad():
        synthetic = generator.animation2video(reference_image=ref.expand(len(grid), -1, -1, -1), dense_flow=grid)
    return (synthetic.synthetic_image.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def test_one_reference_reproduces_the_one_shot_output(face_photo, talking_face_small):  # noqa: F811
    """image=, images=[image] and the pre-issue-25 render give the same frames (trained weights: the train test)."""
    generator = HDTFGenerator.from_preset("tiny", seed=1)
    out = generator(face_photo, driving_video=talking_face_small.path, batch_size=16)
    listed = generator(images=[face_photo], driving_video=talking_face_small.path, batch_size=16)
    np.testing.assert_array_equal(listed.frames, out.frames)
    np.testing.assert_array_equal(_todays_render(generator, out), out.frames)
    assert out.reference_images.shape == (1, 128, 128, 3)


def test_references_from_a_video(generator, face_photo, speech_3s, talking_face_small):  # noqa: F811
    video = talking_face_small  # the astronaut speaking, with head motion and an opening mouth
    even = generator.references_from_video(video.path, 4)
    pose = generator.references_from_video(video.path, 4, sampling="pose")
    assert len(even) == len(pose) == 4 and even[0].shape == (360, 640, 3) and even[0].dtype == np.uint8
    assert len({frame.tobytes() for frame in even}) == 4, "four different frames"
    # Pose sampling spreads head pose and mouth shape at least as widely as even sampling.
    spread = {}
    for name, frames in (("even", even), ("pose", pose)):
        points = np.stack([generator.face_processor(frame)[1] for frame in frames]).astype(np.float64)
        pose_params, expression, _ = generator.expression_basis.encode(points)
        spread[name] = np.ptp(np.concatenate([pose_params[:, [1, 4, 5]], expression], axis=1), axis=0).sum()
    assert spread["pose"] >= 0.8 * spread["even"]
    out = generator(reference_video=video.path, num_references=3, audio=speech_3s[:16000], seed=0)
    single = generator(images=even[:1], audio=speech_3s[:16000], seed=0)
    assert out.frames.shape == (25, 128, 128, 3) and out.reference_images.shape == (3, 128, 128, 3)
    np.testing.assert_array_equal(out.reference_images[0], single.reference_images[0])  # the first frame leads
    assert np.abs(out.frames.astype(int) - single.frames).max() > 0, "the other references take part"
    with pytest.raises(ValueError, match="exactly one of image="):
        generator(face_photo, images=[face_photo], audio=speech_3s[:16000])
    with pytest.raises(HDTFError, match="reference video not found"):
        generator(reference_video="missing.mp4", audio=speech_3s[:16000])


def test_directories_record_references_and_old_ones_still_load(face_photo, speech_3s, tmp_path):
    import json

    four = HDTFGenerator.from_preset("tiny", overrides={"animation2video": {"num_references": 4}})
    saved = four.save_pretrained(tmp_path / "four")
    config = json.loads((saved / CONFIG_FILE).read_text())
    assert (config["num_references"], config["reference_fusion"]) == (4, "confidence")
    assert "trained with 4 reference frames per item" in (saved / "README.md").read_text()
    assert HDTFGenerator.from_pretrained(saved).animation2video.config.num_references == 4

    # A directory as the code before issue 25 wrote it: no reference keys anywhere.
    old = HDTFGenerator.from_preset("tiny", seed=2).save_pretrained(tmp_path / "old")
    legacy = {k: v for k, v in json.loads((old / CONFIG_FILE).read_text()).items()
              if k not in ("num_references", "reference_fusion")}
    (old / CONFIG_FILE).write_text(json.dumps(legacy))
    network = json.loads((old / "animation2video" / "config.json").read_text())
    for key in ("num_references", "reference_fusion"):
        del network[key]
    (old / "animation2video" / "config.json").write_text(json.dumps(network))
    loaded = HDTFGenerator.from_pretrained(old)
    assert loaded.references == {"num_references": 1, "reference_fusion": "confidence"}
    expected = HDTFGenerator.from_preset("tiny", seed=2)(face_photo, audio=speech_3s[:8000])
    np.testing.assert_array_equal(loaded(face_photo, audio=speech_3s[:8000]).frames, expected.frames)
