"""What a recipe is made of: stage option values, each with where the number comes from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """One option of ``hdtf prepare`` as a trainer's own pipeline has it: the ``value``, the ``source`` (repository
    and file) that shows it, and ``note``: what hdtf does differently, and why (empty when nothing)."""

    value: object
    source: str
    note: str = ""
