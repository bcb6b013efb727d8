"""``hdtf prepare``: metadata -> downloads -> 512x512 clips with audio, resumable.

The flags are derived from the declarations: ``--source`` from the sources registry, each source's list options
(``hdtf.sources.*.Options``), the run's (``hdtf.run.RunOptions``) and the job's (``hdtf.options.PrepareOptions``).

Exit status (after the run, over the selected clips, counting clips finished by earlier runs too):

- 0: every selected clip is done, skipped by the options (e.g. no crop window with ``--crop-method fixed``) or its
  video is unavailable, and at least one is done; or nothing was selected (an empty shard of a job array, which
  says so: there was nothing to do, which is no failure);
- 1: no selected clip could be made at all;
- 2: bad input (options, metadata folder, an unknown video name, clip settings other than those OUTPUT's clips were
  made with, without ``--resettle``): nothing was started;
- 3: some clips are done, but others failed (a short source, a download error, ...) or were left to another run
  preparing the same folder; ``hdtf status OUTPUT`` lists why;
- 130: interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from hdtf.options import PrepareOptions, add_arguments as add_options, flag, from_args, required_missing
from hdtf.run import RunOptions
from hdtf.sources import SOURCES, cli_name

HELP = "download HDTF videos and cut them into training-ready clips (mp4 + wav), resumably"
EXIT_STATUS = ("exit status: 0 all selected clips done (or skipped by the options, or their video unavailable) and "
               "at least one done, or nothing selected (an empty shard); 1 no clip could be made; 2 bad input or "
               "other clip settings than OUTPUT's (see --resettle), nothing started; 3 some clips failed or were left "
               "to another "
               "run on the same OUTPUT (hdtf status OUTPUT says why); 130 interrupted")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXIT_STATUS
    parser.add_argument("--source", choices=[cli_name(name) for name in SOURCES], default="hdtf",
                        help="dataset whose metadata to use (default hdtf)")
    add_options(parser, PrepareOptions)
    add_options(parser, RunOptions)
    for name, module in SOURCES.items():
        group = parser.add_argument_group(f"--source {cli_name(name)}")
        add_options(group, importlib.import_module(module).Options, enforce_required=False)


def run(args: argparse.Namespace) -> int:
    from hdtf.errors import HDTFError
    from hdtf.records import ParseReport
    from hdtf.run import check_settings, prepare, validate
    from hdtf.sources import get_source

    source = get_source(args.source)
    lists = from_args(source.Options, args)
    for missing in required_missing(lists):
        raise HDTFError(f"--source {args.source} needs {flag(missing)} ({missing.metadata['help']})")
    run_options = from_args(RunOptions, args)
    run_options.validate()
    options = from_args(PrepareOptions, args)
    validate(options)
    check_settings(options, run_options.resettle)  # before the lists are read: a refused run changes nothing
    report = ParseReport()
    videos = []
    for split in source.selected_splits(lists) or source.SPLITS:
        found, part = source.list_videos(lists, split, fetch_dir=options.layout.fetch_dir)
        videos += found
        report.issues += [issue for issue in part.issues if issue not in report.issues]  # HDTF's splits share one
        report.provenance = part.provenance
    listed = len(videos)
    videos = run_options.choose(videos)
    print(report.summary(None if len(videos) == listed else {v.key for v in videos}))
    total = sum(len(v.clips) for v in videos)
    shard = f" (shard {run_options.shard_index} of {run_options.num_shards})" if run_options.num_shards > 1 else ""
    print(f"{len(videos)} video(s), {total} clip(s) selected{shard}" + ("; nothing to do" if not videos else ""))
    summary = prepare(videos, options, report=report, run=run_options)
    print(summary.text())
    return exit_status(videos, options, summary.statuses)


def exit_status(videos: list, options: PrepareOptions, statuses: list[dict]) -> int:
    """The documented exit status from the selected clips' records after the run (``statuses``: the output's status
    documents, as read for the manifest); one line on stderr unless 0."""
    from hdtf.manifest import video_clips

    layout = options.layout
    wanted = {c.id for v in videos for c in v.clips}
    records = {r.get("id"): r for r in video_clips(statuses, (v.key for v in videos))}
    done = {i for i in wanted if i in records and layout.finished(records[i])}
    final = ("skipped", "unavailable")  # decided by the options or the video: nothing a rerun changes
    unsettled = sorted(i for i in wanted - done if (records.get(i) or {}).get("status") not in final)
    if wanted and not done:
        print("hdtf prepare: no clip could be made; see `hdtf status` for the reasons", file=sys.stderr)
        return 1
    if unsettled:
        print(f"hdtf prepare: {len(unsettled)} of {len(wanted)} clip(s) not made (e.g. {unsettled[0]}); see "
              f"`hdtf status {options.output_dir}` for the reasons", file=sys.stderr)
        return 3
    return 0
