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
import sys

from hdtf.options import PrepareOptions, add_arguments as add_options, flag, from_args, option_fields, required_missing
from hdtf.run import RunOptions
from hdtf.sources import SOURCES, cli_name, get_source

HELP = "download HDTF videos and cut them into training-ready clips (mp4 + wav), resumably"
OWN_HELP = True  # -h/--help is SourceHelp
DEFAULT_SOURCE = "hdtf"
EXIT_STATUS = ("exit status: 0 all selected clips done (or skipped by the options, or their video unavailable) and "
               "at least one done, or nothing selected (an empty shard); 1 no clip could be made; 2 bad input or "
               "other clip settings than OUTPUT's (see --resettle), nothing started; 3 some clips failed or were left "
               "to another "
               "run on the same OUTPUT (hdtf status OUTPUT says why); 130 interrupted")


class SourceHelp(argparse.Action):
    """``-h``/``--help``: after ``--source NAME``, the help of that source alone (its flags with its own help)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, default: str = argparse.SUPPRESS,
                 help: str | None = None) -> None:  # noqa: A002 - argparse's own word
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        source = getattr(namespace, "source", None)
        if source is not None:
            parser = argparse.ArgumentParser(prog=parser.prog, description=parser.description, add_help=False)
            add_arguments(parser, source)
        parser.print_help()
        parser.exit()


def add_arguments(parser: argparse.ArgumentParser, source: str | None = None) -> None:
    """The flags of ``hdtf prepare``: the job's, the run's and every source's (``source``: that source's alone).
    A flag several sources declare (``--split``) is read by the first declaration and shows each one's help."""
    parser.epilog = EXIT_STATUS
    if not parser.add_help:
        parser.add_argument("-h", "--help", action=SourceHelp,
                            help="show this help and exit (after --source NAME: only that source's flags)")
    parser.add_argument("--source", choices=[cli_name(name) for name in SOURCES], default=None,
                        help=f"dataset whose metadata to use (default {DEFAULT_SOURCE}); "
                             "--source NAME --help lists its flags")
    add_options(parser, PrepareOptions)
    add_options(parser, RunOptions)
    names = list(SOURCES) if source is None else [get_source(source).NAME]
    helps: dict[str, list[str]] = {}
    for name in names:
        for f in option_fields(get_source(name).Options, cli=True):
            helps.setdefault(flag(f), []).append(f"{cli_name(name)}: {f.metadata['help']}")
    for name in names:
        group = parser.add_argument_group(f"--source {cli_name(name)}")
        for action in add_options(group, get_source(name).Options, enforce_required=False):
            shared = [text for option in action.option_strings for text in helps.get(option, ())]
            if len(shared) > 1:
                action.help = "per source; " + "; ".join(shared)


def run(args: argparse.Namespace) -> int:
    from hdtf.errors import HDTFError
    from hdtf.run import list_videos, prepare, validate

    name = args.source or DEFAULT_SOURCE
    source = get_source(name)
    lists = from_args(source.Options, args)
    for missing in required_missing(lists):
        raise HDTFError(f"--source {name} needs {flag(missing)} ({missing.metadata['help']})")
    run_options = from_args(RunOptions, args)
    if run_options.recipe:  # the recipe's values for the options the user did not give (unset flags are absent)
        from hdtf.recipes import apply_recipe

        args = argparse.Namespace(**apply_recipe(run_options.recipe, vars(args)))
    options = from_args(PrepareOptions, args)
    known: dict = {}  # the status files read, each once for the whole run (hdtf.layout.Layout.statuses)
    validate(options, run_options, known=known)  # before the lists are read: a refused run changes nothing
    by_split, report = list_videos(source, lists, source.selected_splits(lists) or source.SPLITS,
                                   fetch_dir=options.layout.fetch_dir)
    listed = [video for videos in by_split.values() for video in videos]
    videos = run_options.choose(listed)
    print(report.summary(None if len(videos) == len(listed) else {v.key for v in videos}))
    total = sum(len(v.clips) for v in videos)
    shard = f" (shard {run_options.shard_index} of {run_options.num_shards})" if run_options.num_shards > 1 else ""
    print(f"{len(videos)} video(s), {total} clip(s) selected{shard}" + ("; nothing to do" if not videos else ""))
    summary = prepare(videos, options, report=report, run=run_options, known=known)
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
