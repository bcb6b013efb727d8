"""``hdtf doctor``: can this machine run each part of hdtf? One line per piece, and the fix for each missing one.

The exit status is 0 when ``hdtf prepare`` can run (yt-dlp with a JavaScript runtime and yt-dlp-ejs for YouTube,
ffmpeg with the encoders a clip is made with, ffprobe), 1 otherwise; the face, data and model parts are reported but
optional. Versions come from package metadata where importing would be slow; a piece is imported only when importing
it is the check (torch for CUDA, torchcodec, dlib, decord). The checks run side by side: the whole takes a few
seconds, most of it torch's import.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

HELP = "check what this machine can run (yt-dlp, JavaScript runtime, ffmpeg, faces, models); exit 1 if prepare cannot"

# what `hdtf prepare` encodes a clip with (hdtf.media.cut_clip): H.264 video, AAC audio in the mp4, PCM in the WAV
ENCODERS = ("libx264", "aac", "pcm_s16le")
YT_DLP_MINIMUM = "2025.11.12"  # the first yt-dlp that solves YouTube's challenges with an external JS runtime
FFMPEG_FIX = "install ffmpeg: sudo apt-get install ffmpeg (conda: conda install -c conda-forge ffmpeg; macOS: brew " \
             "install ffmpeg), and make sure it is on PATH"


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    part: str  # prepare, faces, data, models
    name: str
    ok: bool | None  # None: optional and not installed, which nothing requires
    detail: str
    fix: str | None = None

    def line(self) -> str:
        mark = {True: "ok", False: "FAIL", None: "-"}[self.ok]
        text = f"  {mark:<8} {self.name}: {self.detail}"
        return text + (f"\n  {'':<8} fix: {self.fix}" if self.fix and self.ok is not True else "")


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _newer_or_equal(version: str, minimum: str) -> bool:
    def parts(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", text)[:3])

    return parts(version) >= parts(minimum)


# ---------------------------------------------------------------------------------------- prepare (required)


def check_ytdlp(args: argparse.Namespace) -> list[Check]:
    version = _version("yt-dlp")
    if version is None:
        return [Check("prepare", "yt-dlp", False, "not installed", "pip install 'yt-dlp[default]'")]
    if not _newer_or_equal(version, YT_DLP_MINIMUM):
        return [Check("prepare", "yt-dlp", False, f"{version} is older than {YT_DLP_MINIMUM}, which YouTube needs",
                      "pip install -U 'yt-dlp[default]'")]
    return [Check("prepare", "yt-dlp", True, version)]


def _ytdlp_says(js_runtimes: dict) -> str | None:
    """The "JS runtimes: ..." line of yt-dlp's own verbose header, for the runtime hdtf gives it."""
    import yt_dlp

    class Lines:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def debug(self, msg: str) -> None:
            self.lines.append(msg)

        info = warning = error = debug

    log = Lines()
    with yt_dlp.YoutubeDL({"verbose": True, "logger": log, "js_runtimes": js_runtimes}):
        pass
    return next((line.removeprefix("[debug] ") for line in log.lines if "JS runtimes:" in line), None)


def check_js_runtime(args: argparse.Namespace) -> list[Check]:
    from hdtf.download import JS_RUNTIME_FIX, detect_js_runtime, solver_scripts_version, ytdlp_js_runtimes

    if _version("yt-dlp") is None:
        return [Check("prepare", "JavaScript runtime", False, "unknown: yt-dlp is not installed", JS_RUNTIME_FIX)]
    try:
        runtime = detect_js_runtime(args.js_runtime)
        said = _ytdlp_says(ytdlp_js_runtimes(args.js_runtime))
    except Exception as exc:  # noqa: BLE001 - a yt-dlp without runtime support, a bad $HDTF_JS_RUNTIME: report it
        return [Check("prepare", "JavaScript runtime", False, str(exc).splitlines()[0], JS_RUNTIME_FIX)]
    where = runtime.origin + (f": {runtime.path}" if runtime.path else "")
    state = ", supported" if runtime.usable else ""
    detail = f"{runtime.describe()}{state} ({where}); yt-dlp reports \"{said}\""
    checks = [Check("prepare", "JavaScript runtime", runtime.usable, detail, JS_RUNTIME_FIX)]
    ejs = solver_scripts_version()
    checks.append(Check("prepare", "yt-dlp-ejs", ejs is not None,
                        f"{ejs} (YouTube's challenge solver scripts)" if ejs else "not installed (YouTube's challenge "
                        "solver scripts)", "pip install -U 'yt-dlp[default]'"))
    return checks


def _tool_version(tool: str) -> tuple[str | None, str | None]:
    """(version, path) of an ffmpeg tool on PATH; (None, None) when it is not there."""
    path = shutil.which(tool)
    if path is None:
        return None, None
    try:
        out = subprocess.run([path, "-version"], capture_output=True, text=True, errors="replace", timeout=30,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None, path
    match = re.match(rf"{tool} version (\S+)", out)
    return (match.group(1) if match else "unknown version"), path


def check_ffmpeg(args: argparse.Namespace) -> list[Check]:
    checks = []
    version, path = _tool_version("ffmpeg")
    if path is None:
        checks.append(Check("prepare", "ffmpeg", False, "not found on PATH", FFMPEG_FIX))
    elif version is None:
        checks.append(Check("prepare", "ffmpeg", False, f"{path} does not run", FFMPEG_FIX))
    else:
        out = subprocess.run([path, "-hide_banner", "-encoders"], capture_output=True, text=True, errors="replace",
                             timeout=30, check=False).stdout
        have = {m.group(1) for m in re.finditer(r"^\s*[VAS.][F.][S.][X.][B.][D.]\s+(\S+)", out, re.MULTILINE)}
        lacking = [e for e in ENCODERS if e not in have]
        detail = f"{version} ({path}); encoders {', '.join(e for e in ENCODERS if e in have) or 'none'}"
        if lacking:
            checks.append(Check("prepare", "ffmpeg", False, f"{detail}; lacks {', '.join(lacking)}",
                                "install an ffmpeg built with libx264 (Debian/Ubuntu's ffmpeg, conda-forge's ffmpeg)"))
        else:
            checks.append(Check("prepare", "ffmpeg", True, detail))
    version, path = _tool_version("ffprobe")
    if version is None:
        checks.append(Check("prepare", "ffprobe", False, "not found on PATH" if path is None else f"{path} does "
                            "not run", FFMPEG_FIX))
    else:
        checks.append(Check("prepare", "ffprobe", True, f"{version} ({path})"))
    return checks


# ---------------------------------------------------------------------------------------------- optional parts


def _module_version(part: str, module: str, fix: str) -> Check:
    """Import ``module`` (the import is the check) and read its ``__version__``."""
    if importlib.util.find_spec(module) is None:
        return Check(part, module, False, "not installed", fix)
    try:
        loaded = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - a broken install is reported, not raised
        return Check(part, module, False, f"installed but does not import: {str(exc).splitlines()[0]}", fix)
    return Check(part, module, True, str(getattr(loaded, "__version__", "installed")))


def check_faces(args: argparse.Namespace) -> list[Check]:
    fix = "pip install 'hdtf[face]'"
    checks = [_module_version("faces", "dlib", fix)]
    from hdtf.errors import HDTFError
    from hdtf.face.models import FACE_RECOGNITION, LANDMARKS_68, model_path

    found, lacking = [], []
    for name in (LANDMARKS_68, FACE_RECOGNITION):
        try:
            model_path(name)
            found.append(name)
        except HDTFError:
            lacking.append(name)
    detail = f"{', '.join(found)} (face_recognition_models)" if not lacking else f"missing {', '.join(lacking)}"
    checks.append(Check("faces", "dlib model files", not lacking, detail, fix))
    return checks


def check_data(args: argparse.Namespace) -> list[Check]:
    return [_module_version("data", "decord", "pip install 'hdtf[decode]'")]


def check_torch(args: argparse.Namespace) -> list[Check]:
    check = _module_version("models", "torch", "pip install torch (see pytorch.org for the build that fits your "
                                                "machine), then pip install 'hdtf[model]'")
    if not check.ok:
        return [check]
    import torch

    if torch.cuda.is_available():
        names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
        devices = f"{torch.cuda.device_count()} CUDA device(s): {', '.join(names)}"
    else:
        devices = "no CUDA device" + (" (CPU build)" if torch.version.cuda is None else "")
    return [Check("models", "torch", True, f"{torch.__version__}, {devices}")]


def check_libraries(args: argparse.Namespace) -> list[Check]:
    checks = []
    for dist, fix in (("transformers", "pip install 'hdtf[model]'"), ("datasets", "pip install -U datasets"),
                      ("huggingface_hub", "pip install -U huggingface_hub")):
        version = _version(dist)
        checks.append(Check("models", dist, version is not None, version or "not installed", fix))
    return checks


def check_torchcodec(args: argparse.Namespace) -> list[Check]:
    why = "datasets decodes Audio/Video columns with it; hdtf reads clips without it"
    if importlib.util.find_spec("torchcodec") is None:
        return [Check("models", "torchcodec", None, f"not installed (optional: {why})")]
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401 - loading its native library is the check
    except Exception as exc:  # noqa: BLE001 - a CUDA-linked build on CPU torch fails here
        return [Check("models", "torchcodec", False, f"installed but not usable: {str(exc).splitlines()[0][:160]}",
                      "pip uninstall torchcodec (hdtf does not need it), or install the build matching your torch")]
    return [Check("models", "torchcodec", True, f"{_version('torchcodec')} ({why})")]


CHECKS: tuple[Callable[[argparse.Namespace], list[Check]], ...] = (
    check_ytdlp, check_js_runtime, check_ffmpeg, check_faces, check_data, check_torch, check_libraries,
    check_torchcodec,
)
PARTS = {
    "prepare": "prepare: download and cut clips (required)",
    "faces": "faces: --crop-method landmarks|auto, --landmarks, face metrics",
    "data": "data: hdtf.decode, hdtf.data training loaders",
    "models": "models: hdtf.modeling, training, evaluation, datasets and the Hub",
}


def diagnose(args: argparse.Namespace) -> list[Check]:
    """Every check, run side by side (most of the time is subprocesses and imports), in report order."""
    with ThreadPoolExecutor(max_workers=len(CHECKS)) as pool:
        return [check for found in pool.map(lambda run: run(args), CHECKS) for check in found]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hdtf.download import js_runtime_spec

    parser.add_argument("--js-runtime", type=js_runtime_spec, metavar="NAME[:PATH]",
                        help="check this JavaScript runtime instead of the default ($HDTF_JS_RUNTIME, else the deno "
                             "package's)")


def run(args: argparse.Namespace) -> int:
    from hdtf import __version__

    checks = diagnose(args)
    print(f"hdtf {__version__}, Python {platform.python_version()} ({sys.executable})")
    for part, title in PARTS.items():
        print(f"\n{title}")
        for check in checks:
            if check.part == part:
                print(check.line())
    blocking = [c.name for c in checks if c.part == "prepare" and not c.ok]
    if blocking:
        print(f"\nhdtf prepare cannot run here: fix {', '.join(blocking)} (see above).")
        return 1
    print("\nhdtf prepare can run here.")
    return 0
