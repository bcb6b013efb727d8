"""``datasets`` builder for TalkingHead-1KH: ``load_dataset("talkinghead_1kh", data_list=..., split="small")``.

The generic prepared-clips builder (:mod:`hdtf.loaders.prepared`) over the TalkingHead-1KH source: the configs
``metadata`` (the tubes as rows, no download) and ``clips`` (the per-video job of ``hdtf prepare``, one row per
prepared clip), with the source's keyword arguments ``data_list`` (the release's ``data_list`` folder or
``data_list.zip``), ``splits`` and ``min_frames``. The splits are the release's: ``small``, ``train``, ``val``.

``datasets`` prepares every split a builder declares before returning the one asked for, so the ``clips`` config
needs ``splits`` named explicitly: preparing ``train`` by accident would download hundreds of hours of video.
"""

from __future__ import annotations

from hdtf.card import source_card
from hdtf.loaders.prepared import PreparedClipsBuilder


class TalkingHead1KH(PreparedClipsBuilder):
    """TalkingHead-1KH tubes (``metadata``) or prepared face clips (``clips``), in the release's splits.
    Citation, licence and homepage: the source's card facts (``hdtf.card``)."""

    SOURCE = "talkinghead_1kh"
    DESCRIPTION = (
        source_card("talkinghead_1kh").description + " The `clips` config reproduces the official tubes' frames from "
        "the whole video and makes square face clips with mono audio (16 kHz unless `sample_rate` says otherwise); "
        "`metadata` lists the tubes."
    )
