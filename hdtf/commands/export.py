"""``hdtf export DIR --to parquet|webdataset|latentsync|hallo|musetalk --output OUT``: shards and a dataset card
(optionally pushed to the Hub), or the folder a trainer reads as it is."""

from __future__ import annotations

import argparse
from pathlib import Path

from hdtf.commands import add_push_arguments, check_push

HELP = ("export a prepared folder as parquet or webdataset shards with a dataset card (optionally push to the Hub), "
        "or as the folder LatentSync, Hallo or MuseTalk trains on")
SHARDS = ("parquet", "webdataset")
TRAINERS = ("latentsync", "hallo", "musetalk")  # hdtf.export.trainers.TRAINERS, without importing it here


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prepared", help="the folder or URL (s3://...) given to hdtf prepare --output")
    parser.add_argument("--to", choices=SHARDS + TRAINERS, default="parquet",
                        help="shard format, or the trainer whose folder layout to write (docs/recipes.md)")
    parser.add_argument("--output", type=Path, required=True,
                        help="folder for the export: new, empty or an earlier export's (whose own files alone are "
                             "replaced; nothing else in it is touched)")
    parser.add_argument("--shard-size", type=int, default=None, metavar="N", help="clips per shard (default 16)")
    parser.add_argument("--include-filtered", action="store_true",
                        help="also export the clips a filter stage rejected (marked in their `filtered` column); "
                             "default: left out")
    parser.add_argument("--val-split", choices=("v1", "musetalk"), default="v1",
                        help="with --to musetalk: val.txt holds hdtf's standard test split (v1) or MuseTalk's fixed "
                             "20 HDTF validation videos (musetalk)")
    parser.add_argument("--i-have-distribution-rights", dest="have_rights", action="store_true",
                        help="with --push-to-hub: state that you hold the rights to share these clips where a "
                             "source's terms forbid it (CelebV-HQ: non-commercial research, no further "
                             "distribution); without it such a push is refused")
    add_push_arguments(parser, "the export's own files alone (not the rest of OUT) as a dataset",
                       private_because="HDTF's clips belong to the videos' uploaders and no licence lets you share "
                                       "them; see the card")


def run(args: argparse.Namespace) -> int:
    if args.to in TRAINERS:
        return _trainer(args)
    from hdtf.export import DEFAULT_SHARD_SIZE, export, push_to_hub

    check_push(args)
    result = export(args.prepared, args.output, to=args.to, shard_size=args.shard_size or DEFAULT_SHARD_SIZE,
                    repo_id=args.push_to_hub, include_filtered=args.include_filtered, have_rights=args.have_rights)
    print(f"exported {result.num_examples} clip(s) in {len(result.files)} {args.to} shard(s) to {args.output}; "
          f"card: {result.card}")
    _left(result.left)
    if args.push_to_hub:
        url = push_to_hub(args.output, args.push_to_hub, private=args.private, have_rights=args.have_rights)
        print(f"pushed to {url}")
    return 0


def _trainer(args: argparse.Namespace) -> int:
    from hdtf.errors import HDTFError
    from hdtf.export.trainers import export_for

    if args.push_to_hub:
        raise HDTFError(f"--push-to-hub uploads parquet or webdataset shards, not a {args.to} folder")
    result = export_for(args.prepared, args.output, args.to, include_filtered=args.include_filtered,
                        val_split=args.val_split)
    print(f"exported {result.num_examples} clip(s) for {args.to} to {args.output}; lists: "
          f"{', '.join(str(p) for p in result.lists)}")
    for reason, count in sorted(result.left_out.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"left out {count} clip(s): {reason}")
    _left(result.left)
    return 0


def _left(left: tuple[Path, ...]) -> None:
    if left:
        print(f"left {len(left)} file(s) of the earlier export that changed since it wrote them: "
              f"{', '.join(p.name for p in left)}")
