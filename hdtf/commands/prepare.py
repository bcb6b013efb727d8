"""``hdtf prepare``: metadata -> downloads -> 512x512 clips with audio, resumable.

The flags are derived from the declarations: ``--source`` from the sources registry, each source's list options
(``hdtf.sources.*.Options``), the run's (``hdtf.run.RunOptions``) and the job's (``hdtf.options.PrepareOptions``).

Exit status: 0 when at least one selected clip is finished after the run (including clips finished by earlier
runs) or the selection has no clips; 1 when nothing could be done at all (every selected clip failed, was skipped
or its video is unavailable); 2 for bad input (options, metadata folder, an unknown video name).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from hdtf.options import PrepareOptions, add_arguments as add_options, flag, from_args, required_missing
from hdtf.run import RunOptions
from hdtf.sources import SOURCES, cli_name

HELP = "download HDTF videos and cut them into training-ready clips (mp4 + wav), resumably"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", choices=[cli_name(name) for name in SOURCES], default="hdtf",
                        help="dataset whose metadata to use (default hdtf)")
    add_options(parser, PrepareOptions)
    add_options(parser, RunOptions)
    for name, module in SOURCES.items():
        group = parser.add_argument_group(f"--source {cli_name(name)}")
        add_options(group, importlib.import_module(module).Options, enforce_required=False)


def run(args: argparse.Namespace) -> int:
    from hdtf.errors import HDTFError
    from hdtf.manifest import done_clips
    from hdtf.records import ParseReport
    from hdtf.run import prepare
    from hdtf.sources import get_source

    source = get_source(args.source)
    lists = from_args(source.Options, args)
    for missing in required_missing(lists):
        raise HDTFError(f"--source {args.source} needs {flag(missing)} ({missing.metadata['help']})")
    run_options = from_args(RunOptions, args)
    run_options.validate()
    options = from_args(PrepareOptions, args)
    options.validate()
    report = ParseReport()
    videos = []
    for split in source.selected_splits(lists) or source.SPLITS:
        found, part = source.list_videos(lists, split, fetch_dir=options.output_dir / "metadata")
        videos += found
        report.issues += part.issues
    print(report.summary())
    videos = run_options.choose(videos)
    total = sum(len(v.clips) for v in videos)
    shard = f" (shard {run_options.shard_index} of {run_options.num_shards})" if run_options.num_shards > 1 else ""
    print(f"{len(videos)} video(s), {total} clip(s) selected{shard}")
    summary = prepare(videos, options, report=report, run=run_options)
    print(summary.text())
    wanted = {c.id for v in videos for c in v.clips}
    finished = sum(1 for clip in done_clips(options.output_dir) if clip["id"] in wanted)
    if total and not finished:
        print("hdtf prepare: no clip could be made; see `hdtf status` for the reasons", file=sys.stderr)
        return 1
    return 0
