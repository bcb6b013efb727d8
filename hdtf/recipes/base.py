"""What a recipe is made of: stage option values, each with where the number comes from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """One option of ``hdtf prepare`` as a trainer's own pipeline has it: the ``value``, the ``source`` (repository
    and file) that shows it, ``note``: what hdtf does differently, and why (empty when nothing), and ``needs``: the
    option naming a file only the user can give (SyncNet or IQA weights) without which the setting is left out."""

    value: object
    source: str
    note: str = ""
    needs: str | None = None
