"""The whole hdtf chain on the built-in real-face fixture, offline, in a few minutes on 2 CPU cores.

1. make a talking-face source video from a real photo (scikit-image's astronaut) and synthesised speech;
2. serve it over loopback HTTP and describe it in HDTF's metadata format;
3. ``hdtf prepare`` it (real yt-dlp download, face-tracked crop, 512x512 clip with audio and landmarks);
4. ``accelerate launch examples/train.py`` a short run of the tiny model on it;
5. ``hdtf generate`` a talking video from the photo and the speech, with side-by-side intermediates.

Every step is the real command a user would type; the script prints each one before running it.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

from hdtf.loopback import serve_directory
from hdtf.synthetic import default_photo, make_talking_face_video

EXAMPLES = Path(__file__).resolve().parent
NAME = "DemoSpeaker"


def run(step: str, args: list[str]) -> None:
    print(f"\n== {step}\n$ {shlex.join(args)}", flush=True)
    started = time.perf_counter()
    subprocess.run(args, check=True)
    print(f"== {step}: done in {time.perf_counter() - started:.0f} s", flush=True)


def write_metadata(folder: Path, seconds: float) -> None:
    """One RD video, one annotated clip, no crop window: the crop comes from the tracked face (method 2)."""
    folder.mkdir(parents=True, exist_ok=True)
    end = int(seconds)
    files = {
        "RD_video_url.txt": f"{NAME} https://www.youtube.com/watch?v=hdtfdemo000\n",
        "RD_resolution.txt": f"{NAME}.mp4 720\n",
        "RD_annotion_time.txt": f"{NAME}.mp4 00:00-00:{end:02d}\n",
        "RD_crop_wh.txt": "",
        "RD_crop_ratio.txt": "",
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=Path("demo_output"))
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the fixture video")
    parser.add_argument("--max_train_steps", type=int, default=60)
    parser.add_argument("--resolution", type=int, default=128, help="training/generation size of the tiny model")
    args = parser.parse_args()
    out = args.output.resolve()
    bin_dir = Path(sys.executable).parent
    hdtf_cli = [str(bin_dir / "hdtf")]

    source = out / "source"
    source.mkdir(parents=True, exist_ok=True)
    video = source / f"RD_{NAME}.mp4"
    photo = source / "face.png"
    if not video.exists():
        print(f"== fixture: writing {video}", flush=True)
        make_talking_face_video(video, seconds=args.seconds)
    if not photo.exists():
        from PIL import Image

        Image.fromarray(default_photo()).save(photo)
    write_metadata(out / "metadata", args.seconds)

    data = out / "data"
    with serve_directory(source) as base_url:
        run(
            "prepare",
            [*hdtf_cli, "prepare", "--output", str(data), "--metadata-dir", str(out / "metadata"), "--subsets", "RD",
             "--url-template", f"{base_url}/{{subset}}_{{name}}.mp4", "--crop-method", "landmarks", "--no-progress"],
        )
    model = out / "model"
    run(
        "train",
        [str(bin_dir / "accelerate"), "launch", "--num_processes", "1", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", str(EXAMPLES / "train.py"),
         "--stage", "all", "--model_preset", "tiny", "--train_data_dir", str(data), "--output_dir", str(model),
         "--resolution", str(args.resolution), "--max_train_steps", str(args.max_train_steps),
         "--checkpointing_steps", str(args.max_train_steps), "--validation_steps", str(args.max_train_steps),
         "--train_batch_size", "4", "--seed", "0"],
    )
    speech = data / "clips" / f"RD_{NAME}_000.wav"
    result = out / "generated.mp4"
    intermediates = out / "intermediates"
    run(
        "generate",
        [*hdtf_cli, "generate", "--model", str(model), "--image", str(photo), "--audio", str(speech),
         "--output", str(result), "--save-intermediates", str(intermediates)],
    )
    print("\nDone.")
    print(f"  prepared clips:         {data / 'clips'}  (hdtf status {data})")
    print(f"  trained model:          {model}  (HDTFGenerator.from_pretrained)")
    print(f"  generated video:        {result}")
    print(f"  side-by-side debugging: {intermediates}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
