"""How ``decode_clip`` should read a row: decord from the mp4 bytes in memory vs writing a temp file first; and the
waveform from the row's float32 column / the wav vs decoding the mp4's AAC track with PyAV.

Clip: 10 s, 512x512, 25 fps, H.264 (x264 medium, CRF 23) + AAC 16 kHz mono, like a prepared clip. Prints the median of
``--repeat`` runs of each way and the ratios, from one run of this script.

    python benchmarks/bench_decode.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from hdtf.decode import read_frames, read_mp4_audio, read_wav


def render(folder: Path) -> tuple[Path, Path]:
    mp4, wav = folder / "clip.mp4", folder / "clip.wav"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=512x512:r=25:d=10",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=10", "-c:v", "libx264", "-crf", "23",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "1", "-ar", "16000", "-shortest", str(mp4),
         "-map", "1:a", "-c:a", "pcm_s16le", str(wav)],
        check=True,
    )
    return mp4, wav


def medians(fns, repeat: int) -> list[float]:
    """Median seconds of each function, the calls interleaved so that background load hits all of them alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, spent in zip(fns, times):
            began = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - began)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mp4, wav = render(Path(tmp))
        data, wav_bytes = mp4.read_bytes(), wav.read_bytes()

        def via_temp_file() -> None:
            with tempfile.NamedTemporaryFile(suffix=".mp4", dir=tmp) as f:
                f.write(data)
                f.flush()
                read_frames(f.name)

        frames_memory, frames_file = medians([lambda: read_frames(io.BytesIO(data)), via_temp_file], args.repeat)
        audio_wav, audio_aac = medians([lambda: read_wav(io.BytesIO(wav_bytes)), lambda: read_mp4_audio(mp4)],
                                       args.repeat)
    print(f"frames, decord from bytes in memory: {frames_memory * 1000:8.1f} ms")
    print(f"frames, decord via a temp file:      {frames_file * 1000:8.1f} ms")
    print(f"  temp file / memory = {frames_file / frames_memory:.2f}")
    print(f"audio, wav (soundfile):              {audio_wav * 1000:8.1f} ms")
    print(f"audio, AAC track of the mp4 (PyAV):  {audio_aac * 1000:8.1f} ms")
    print(f"  AAC / wav = {audio_aac / audio_wav:.1f}")


if __name__ == "__main__":
    main()
