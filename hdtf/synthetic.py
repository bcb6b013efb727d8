"""Deterministic talking-face source videos made from one real photo, for tests, benchmarks and the demo.

A real face (dlib finds it for real) is placed on a 16:9 canvas at HDTF-like scale, moved smoothly (translation,
small rotation and scale), and its mouth and jaw are opened with the loudness of real or synthesised speech by a
piecewise-affine warp of the 68-landmark mesh. Because we move the landmarks ourselves, every frame comes with
ground-truth landmarks in video pixels. Same inputs and seed -> byte-identical mp4 (H.264 + AAC).

Imports cv2/scipy/dlib inside functions: ``import hdtf`` never imports this module's heavy parts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import numpy as np

from hdtf.errors import HDTFError

DEFAULT_TEXT = (
    "High definition talking faces need clean audio and a steady view of the speaker. "
    "We read the lips, the jaw and the eyes, frame by frame, while the voice goes on."
)

# How far each landmark moves down, in units of the full inner-lip opening (iBUG 68-point indices).
# Lower lip and chin follow the jaw, the upper lip lifts a little, the mouth corners move a third of the way.
_MOUTH_WEIGHTS: dict[int, float] = {
    3: 0.08, 4: 0.2, 5: 0.4, 6: 0.6, 7: 0.75, 8: 0.8, 9: 0.75, 10: 0.6, 11: 0.4, 12: 0.2, 13: 0.08,
    48: 0.35, 49: -0.08, 50: -0.1, 51: -0.1, 52: -0.1, 53: -0.08, 54: 0.35,
    55: 0.75, 56: 0.9, 57: 0.95, 58: 0.9, 59: 0.75,
    60: 0.35, 61: -0.1, 62: -0.1, 63: -0.1, 64: 0.35, 65: 0.95, 66: 1.0, 67: 0.95,
}
_MAX_OPEN = 0.30  # full inner-lip opening, in inter-ocular distances (an open vowel in normal speech)
_FACE_HEIGHT = 0.34  # landmark-box height / frame height: HDTF windows are ~0.68 of the frame, faces ~half of them


@dataclass(frozen=True)
class Overlay:
    """Something else in the picture, composited over the talking face's scene: a second person, a face on a poster
    (``kind="face"``: a real photo, ``photo`` None = the astronaut), or a drawn face-like emblem that dlib's HOG
    detector fires on like on a real face (``kind="emblem"``, :func:`face_emblem`; a TV channel's badge).

    ``centre``: where its face (an emblem: the badge) is centred at ``start``, as fractions of the frame's width and
    height; ``height``: the face's landmark-box height (an emblem: the badge's height) as a fraction of the frame
    height; on screen during ``[start, end)`` seconds (``end`` None: to the end), moving by ``velocity`` (frame
    fractions per second).
    """

    centre: tuple[float, float]
    height: float
    kind: Literal["face", "emblem"] = "face"
    photo: Path | None = None
    start: float = 0.0
    end: float | None = None
    velocity: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class SyntheticVideo:
    """A generated video and what is known about it.

    ``landmarks`` are the ground-truth (T, 68, 2) points of the talking face in video pixels (NaN when the video has
    no face); ``face_box`` is the union (x, y, w, h) of its per-frame landmark boxes (None without a face).
    ``overlay_landmarks``: one (T, 68, 2) array per overlay, its face's points (NaN when off screen or an emblem).
    """

    path: Path
    fps: float
    num_frames: int
    width: int
    height: int
    landmarks: np.ndarray
    face_box: tuple[int, int, int, int] | None
    overlay_landmarks: tuple[np.ndarray, ...] = ()


def default_photo() -> np.ndarray:
    """scikit-image's astronaut (public domain, ships with the package): a real face available offline."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[..., :3])


def make_talking_face_video(
    out_path: Path,
    *,
    photo: Path | None = None,
    audio: Path | None = None,
    seconds: float = 4.0,
    size: tuple[int, int] = (1280, 720),
    fps: float = 25.0,
    seed: int = 0,
    face_height: float = _FACE_HEIGHT,
    face_centre: tuple[float, float] = (0.5, 0.45),
    motion: float = 1.0,
    overlays: Sequence[Overlay] = (),
) -> SyntheticVideo:
    """Write a talking-face mp4 at ``out_path`` and return it with its ground-truth landmarks.

    ``photo`` None uses :func:`default_photo`; ``audio`` None synthesises speech with espeak-ng, otherwise the wav
    is trimmed or looped to ``seconds``. ``seed`` picks the head motion, ``motion`` scales it (0: a still head).
    ``face_height``: the landmark box's height as a fraction of the frame height (0.125 of 720 = a 90 px face);
    ``face_centre``: where the head rests (fractions of width and height). ``overlays``: other faces and face-like
    things in the picture, each with its own ground truth.
    """
    from hdtf.face.detect import landmarks_for_image, read_image

    out_path = Path(out_path)
    width, height = size
    image = default_photo() if photo is None else read_image(photo)
    points = landmarks_for_image(image if photo is None else photo)
    num_frames = max(1, int(round(seconds * fps)))
    times = np.arange(num_frames) / fps
    with tempfile.TemporaryDirectory(prefix="hdtf-synth-") as tmp:
        wav, rate = _speech(Path(tmp), audio, num_frames / fps)
        opening = _mouth_opening(wav, rate, num_frames, fps)
        wav_path = Path(tmp) / "audio.wav"
        _write_wav(wav_path, wav, rate)
        scene = _Scene(image, points, width, height, face_height, face_centre)
        head = _head_motion(num_frames, fps, seed) * motion
        truth = np.empty((num_frames, 68, 2), np.float32)
        layers = [_Layer(overlay, width, height) for overlay in overlays]
        others = tuple(np.full((num_frames, 68, 2), np.nan, np.float32) for _ in layers)

        def frames():
            for k in range(num_frames):
                frame, truth[k] = scene.render(opening[k], *head[k])
                for layer, other in zip(layers, others, strict=True):
                    frame, other[k] = layer.paint(frame, times[k])
                yield frame

        encode_video(out_path, frames(), width, height, fps, wav_path)
    lo, hi = np.floor(truth.min(axis=(0, 1))), np.ceil(truth.max(axis=(0, 1)))
    box = (int(lo[0]), int(lo[1]), int(hi[0] - lo[0]), int(hi[1] - lo[1]))
    return SyntheticVideo(out_path, fps, num_frames, width, height, truth, box, others)


def make_no_face_video(
    out_path: Path, *, seconds: float = 2.0, size: tuple[int, int] = (640, 360), fps: float = 25.0, seed: int = 0
) -> SyntheticVideo:
    """A video with no face (a slowly drifting colour gradient and a tone): the input of 'no face' failure paths."""
    out_path = Path(out_path)
    width, height = size
    num_frames = max(1, int(round(seconds * fps)))
    rng = np.random.default_rng(seed)
    base = rng.uniform(40, 200, size=3)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="hdtf-synth-") as tmp:
        rate = 16000
        t = np.arange(int(round(num_frames / fps * rate))) / rate
        wav_path = Path(tmp) / "audio.wav"
        _write_wav(wav_path, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)

        def frames():
            for k in range(num_frames):
                shift = 40 * np.sin(2 * np.pi * 0.2 * k / fps)
                ramp = ((xx + yy + shift) / (width + height))[..., None]
                yield np.clip(base * (0.6 + 0.6 * ramp), 0, 255).astype(np.uint8)

        encode_video(out_path, frames(), width, height, fps, wav_path)
    nan = np.full((num_frames, 68, 2), np.nan, np.float32)
    return SyntheticVideo(out_path, fps, num_frames, width, height, nan, None)


def encode_video(out_path: Path, frames, width: int, height: int, fps: float, wav: Path | None) -> None:
    """Pipe RGB frames to ffmpeg (H.264, yuv420p) muxed with ``wav`` as AAC; atomic, bit-exact for equal input."""
    if width % 2 or height % 2:
        raise ValueError(f"video size {width}x{height} must be even in both directions (H.264 4:2:0)")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise HDTFError("ffmpeg not found on PATH (install ffmpeg)")
    rate = str(Fraction(fps).limit_denominator(1001))
    tmp = out_path.with_name(f".{out_path.stem}.partial{out_path.suffix or '.mp4'}")
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", rate, "-i", "pipe:0"]
    if wav is not None:
        cmd += ["-i", str(wav), "-map", "0:v", "-map", "1:a", "-c:a", "aac", "-b:a", "96k", "-ar", "44100", "-ac", "2",
                "-flags:a", "+bitexact"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", "-flags:v", "+bitexact",
            "-fflags", "+bitexact", "-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", str(tmp)]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for frame in frames:
            proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
    except BrokenPipeError:
        pass
    finally:
        proc.stdin.close()
        err = proc.stderr.read().decode(errors="replace")
        proc.wait()
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        reason = (err.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise HDTFError(f"{out_path}: ffmpeg failed to encode the video: {reason}")
    os.replace(tmp, out_path)


def _speech(tmp: Path, audio: Path | None, seconds: float) -> tuple[np.ndarray, int]:
    """Mono float32 speech of exactly ``seconds``: the given wav trimmed/looped, or espeak-ng reading DEFAULT_TEXT."""
    import soundfile as sf

    if audio is None:
        espeak = shutil.which("espeak-ng")
        if espeak is None:
            raise HDTFError("espeak-ng not found on PATH: install it or pass a speech wav as audio")
        audio = tmp / "speech.wav"
        subprocess.run([espeak, "-s", "160", "-w", str(audio), DEFAULT_TEXT], check=True, capture_output=True)
    try:
        wav, rate = sf.read(str(audio), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, OSError) as exc:
        raise HDTFError(f"{audio}: cannot read audio ({exc})") from exc
    wav = wav.mean(axis=1)
    if wav.size == 0:
        raise HDTFError(f"{audio}: audio is empty")
    need = int(round(seconds * rate))
    return np.resize(wav, need).astype(np.float32), int(rate)  # np.resize repeats the signal to fill


def _write_wav(path: Path, wav: np.ndarray, rate: int) -> None:
    import soundfile as sf

    sf.write(str(path), wav, rate, subtype="PCM_16")


def _mouth_opening(wav: np.ndarray, rate: int, num_frames: int, fps: float) -> np.ndarray:
    """Per-frame opening in [0, 1] from the speech loudness (RMS per frame, normalised, lightly smoothed)."""
    edges = (np.arange(num_frames + 1) * (rate / fps)).astype(int)
    spans = zip(edges[:-1], edges[1:], strict=True)
    rms = np.array([np.sqrt(np.mean(np.square(wav[a:max(b, a + 1)]))) for a, b in spans])
    ref = np.percentile(rms, 95) or 1.0
    level = np.clip(rms / ref, 0.0, 1.0)
    level = np.convolve(np.pad(level, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
    return np.clip((level - 0.1) / 0.9, 0.0, 1.0) ** 0.8


def _head_motion(num_frames: int, fps: float, seed: int) -> np.ndarray:
    """(T, 4) smooth motion: dx, dy (in face heights), rotation (degrees), relative scale; two sinusoids each."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / fps
    amplitude = np.array([0.12, 0.06, 4.0, 0.03])
    out = np.zeros((num_frames, 4))
    for j, amp in enumerate(amplitude):
        for share in (0.65, 0.35):
            freq, phase = rng.uniform(0.15, 0.6), rng.uniform(0, 2 * np.pi)
            out[:, j] += amp * share * np.sin(2 * np.pi * freq * t + phase)
    return out


class _Scene:
    """The photo on a blurred-photo background; renders one frame for a mouth opening and a head pose."""

    def __init__(
        self, photo: np.ndarray, points: np.ndarray, width: int, height: int, face_height: float,
        face_centre: tuple[float, float],
    ) -> None:
        import cv2
        from scipy.spatial import Delaunay

        self.photo = photo
        self.points = points.astype(np.float64)
        self.width, self.height = width, height
        self.rest = np.array([face_centre[0] * width, face_centre[1] * height])
        lo, hi = self.points.min(0), self.points.max(0)
        self.centre = (lo + hi) / 2
        self.base_scale = face_height * height / (hi[1] - lo[1])
        eyes = np.stack([self.points[36:42].mean(0), self.points[42:48].mean(0)])
        iod = float(np.linalg.norm(eyes[1] - eyes[0]))
        down = self.points[48:68].mean(0) - eyes.mean(0)
        self.down = down / np.linalg.norm(down)
        self.open_px = _MAX_OPEN * iod
        self.face_px = hi[1] - lo[1]

        # Mesh: the 68 points plus a fixed ring around the face, so the warp stays local to the face.
        margin = 0.6 * (hi - lo)
        x0, y0 = lo - margin
        x1, y1 = hi + margin
        ring = np.array([[x0, y0], [self.centre[0], y0], [x1, y0], [x1, self.centre[1]], [x1, y1],
                         [self.centre[0], y1], [x0, y1], [x0, self.centre[1]]])
        self.mesh = np.concatenate([self.points, ring])
        self.weights = np.zeros(len(self.mesh))
        for index, weight in _MOUTH_WEIGHTS.items():
            self.weights[index] = weight
        simplices = Delaunay(self.mesh).simplices
        self.moving = simplices[(self.weights[simplices] != 0).any(axis=1)]

        # Background: the photo stretched to cover the frame, heavily blurred and dimmed (cheap at 1/8 size).
        small = cv2.resize(photo, (max(1, width // 8), max(1, height // 8)), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), 3)
        self.background = (cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR) * 0.8).astype(np.uint8)
        self.alpha = _feathered_alpha(*photo.shape[:2])

    def render(self, opening: float, dx: float, dy: float, angle: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """One RGB frame and its 68 landmarks in frame pixels."""
        import cv2

        moved = self.mesh + (opening * self.open_px) * self.weights[:, None] * self.down[None, :]
        face = self._warp_mouth(moved) if opening > 0.01 else self.photo
        s = self.base_scale * (1.0 + scale)
        target = self.rest + np.array([dx, dy]) * self.face_px * self.base_scale
        matrix = cv2.getRotationMatrix2D((float(self.centre[0]), float(self.centre[1])), angle, s)
        matrix[:, 2] += target - self.centre
        size = (self.width, self.height)
        fg = cv2.warpAffine(face, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        alpha = cv2.warpAffine(self.alpha, matrix, size, flags=cv2.INTER_LINEAR)
        frame = cv2.blendLinear(fg, self.background, alpha, 1.0 - alpha)
        points = moved[:68] @ matrix[:, :2].T + matrix[:, 2]
        return frame, points.astype(np.float32)

    def _warp_mouth(self, moved: np.ndarray) -> np.ndarray:
        """Piecewise-affine warp of the moving triangles (inverse mapping), then a dark mouth interior."""
        import cv2

        h, w = self.photo.shape[:2]
        corners = np.concatenate([moved[self.moving].reshape(-1, 2), self.mesh[self.moving].reshape(-1, 2)])
        x0, y0 = np.clip(np.floor(corners.min(0)).astype(int) - 1, 0, [w - 1, h - 1])
        x1, y1 = np.clip(np.ceil(corners.max(0)).astype(int) + 2, 1, [w, h])
        grid_y, grid_x = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        map_x, map_y = grid_x.copy(), grid_y.copy()
        for tri in self.moving:
            dst, src = moved[tri].astype(np.float32), self.mesh[tri].astype(np.float32)
            inv = cv2.getAffineTransform(dst, src)
            bx0, by0 = np.maximum(np.floor(dst.min(0)).astype(int), [x0, y0])
            bx1, by1 = np.minimum(np.ceil(dst.max(0)).astype(int) + 1, [x1, y1])
            if bx1 <= bx0 or by1 <= by0:
                continue
            mask = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
            cv2.fillConvexPoly(mask, np.round(dst - [bx0, by0]).astype(np.int32), 1)
            inside = mask.astype(bool)
            gx = grid_x[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0][inside]
            gy = grid_y[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0][inside]
            map_x[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0][inside] = inv[0, 0] * gx + inv[0, 1] * gy + inv[0, 2]
            map_y[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0][inside] = inv[1, 0] * gx + inv[1, 1] * gy + inv[1, 2]
        out = self.photo.copy()
        out[y0:y1, x0:x1] = cv2.remap(self.photo, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        # The gap between the inner lips: a dark mouth interior, blended at the edge.
        inner = np.round(moved[60:68] * 4).astype(np.int32)
        region = out[y0:y1, x0:x1]
        shade = region.copy()
        cv2.fillPoly(shade, [inner - [4 * x0, 4 * y0]], (45, 18, 22), lineType=cv2.LINE_AA, shift=2)
        cv2.addWeighted(shade, 0.85, region, 0.15, 0, dst=region)
        return out


def _feathered_alpha(h: int, w: int) -> np.ndarray:
    """Alpha of a pasted picture: 1 inside, fading to 0 over its outer 6% so its edges do not show."""
    ramp = max(2.0, 0.06 * min(h, w))
    ys, xs = np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32)
    fy = np.clip(np.minimum(ys + 0.5, h - ys - 0.5) / ramp, 0, 1)
    fx = np.clip(np.minimum(xs + 0.5, w - xs - 0.5) / ramp, 0, 1)
    return np.outer(fy, fx).astype(np.float32)


def face_emblem(size: int = 256) -> np.ndarray:
    """A drawn face-like badge (RGB, ``size`` square): an oval with two eyes, a nose and a mouth, lightly blurred.

    dlib's HOG detector fires on it with scores like a real face's (~1.3 at 200 px; the astronaut scores ~1.5),
    which makes it the false positive a tracker must not follow: a channel logo, an emoji sticker, a mascot.
    """
    import cv2

    img = np.full((size, size, 3), (205, 200, 190), np.uint8)
    c, ink = size // 2, (40, 40, 45)
    cv2.ellipse(img, (c, int(size * 0.52)), (int(size * 0.36), int(size * 0.46)), 0, 0, 360, (235, 190, 60), -1,
                cv2.LINE_AA)
    for side in (-1, 1):
        eye = (int(c + side * 0.14 * size), int(0.38 * size))
        cv2.ellipse(img, eye, (int(0.056 * size), int(0.04 * size)), 0, 0, 360, ink, -1, cv2.LINE_AA)
    thick = max(2, size // 50)
    cv2.line(img, (c, int(0.43 * size)), (c, int(0.60 * size)), (80, 70, 50), thick, cv2.LINE_AA)
    cv2.ellipse(img, (c, int(0.60 * size)), (int(0.06 * size), int(0.03 * size)), 0, 0, 180, ink, thick, cv2.LINE_AA)
    cv2.ellipse(img, (c, int(0.72 * size)), (int(0.12 * size), int(0.04 * size)), 0, 0, 360, ink, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), size / 120)


class _Layer:
    """One overlay: its picture cropped around the face (or the emblem), scaled and pasted at its place over time."""

    def __init__(self, overlay: Overlay, width: int, height: int) -> None:
        import cv2

        from hdtf.face.detect import landmarks_for_image, read_image

        self.overlay, self.width, self.height = overlay, width, height
        if overlay.kind == "emblem":
            picture = face_emblem()
            self.points = None
            anchor, span = np.array([picture.shape[1], picture.shape[0]]) / 2, picture.shape[0]
        else:
            photo = default_photo() if overlay.photo is None else read_image(overlay.photo)
            points = landmarks_for_image(photo).astype(np.float64)
            lo, hi = points.min(0), points.max(0)
            side = (hi - lo).max()
            centre = (lo + hi) / 2 - [0, 0.15 * side]  # a head-and-shoulders cut-out: hair above, chin inside
            x0, y0 = np.maximum(np.round(centre - 1.1 * side).astype(int), 0)
            x1, y1 = np.minimum(np.round(centre + 1.1 * side).astype(int), [photo.shape[1], photo.shape[0]])
            picture = photo[y0:y1, x0:x1]
            self.points = points - [x0, y0]
            anchor, span = (lo + hi) / 2 - [x0, y0], hi[1] - lo[1]
        scale = overlay.height * height / span
        size = (max(2, round(picture.shape[1] * scale)), max(2, round(picture.shape[0] * scale)))
        self.stretch = np.array([size[0] / picture.shape[1], size[1] / picture.shape[0]])
        self.picture = cv2.resize(np.ascontiguousarray(picture), size, interpolation=cv2.INTER_AREA)
        self.alpha = _feathered_alpha(size[1], size[0])
        self.anchor = (anchor + 0.5) * self.stretch - 0.5  # pixel centres: x' = (x + 0.5) * s - 0.5

    def paint(self, frame: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """``frame`` with the overlay pasted if on screen at ``t`` seconds, and its face's 68 points (NaN if none)."""
        import cv2

        nan = np.full((68, 2), np.nan, np.float32)
        o = self.overlay
        if t < o.start or (o.end is not None and t >= o.end):
            return frame, nan
        offset = (np.array(o.centre) + np.array(o.velocity) * (t - o.start)) * [self.width, self.height] - self.anchor
        matrix = np.array([[1.0, 0.0, offset[0]], [0.0, 1.0, offset[1]]])
        size = (self.width, self.height)
        fg = cv2.warpAffine(self.picture, matrix, size, flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(self.alpha, matrix, size, flags=cv2.INTER_LINEAR)
        frame = cv2.blendLinear(fg, frame, alpha, 1.0 - alpha)
        if self.points is None:
            return frame, nan
        return frame, ((self.points + 0.5) * self.stretch - 0.5 + offset).astype(np.float32)
