"""Recipes: ``hdtf prepare --recipe latentsync|hallo|musetalk`` picks the stages and thresholds a trainer's own
preprocessing uses (docs/recipes.md lists every number with its source).

A recipe is data: a module with ``NAME``, ``VERSION`` (raised whenever a value changes), ``TRAINER`` and ``OPTIONS``
(``hdtf prepare`` option name -> :class:`hdtf.recipes.base.Setting`), and one line in :data:`RECIPES`. The options are
those of ``hdtf prepare`` (``hdtf.options`` and the curation stages' flags: ``--scene-cuts``, ``--aligned``,
``--min-face-share``, ...). A user's own flags override the recipe's (:func:`apply_recipe`); the recipe's name and
version are recorded in the manifest (``recipe``) and the dataset card (:func:`recipe_record`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from hdtf.errors import HDTFError

# recipe name -> the module that holds it
RECIPES: dict[str, str] = {
    "latentsync": "hdtf.recipes.latentsync",
    "hallo": "hdtf.recipes.hallo",
    "musetalk": "hdtf.recipes.musetalk",
}


def get_recipe(name: str) -> ModuleType:
    """The recipe module ``name`` (HDTFError naming the choices for any other)."""
    if name not in RECIPES:
        raise HDTFError(f"recipe {name!r} is not one of {', '.join(RECIPES)}")
    return importlib.import_module(RECIPES[name])


def recipe_options(name: str) -> dict[str, Any]:
    """The option values of recipe ``name``."""
    return {key: setting.value for key, setting in get_recipe(name).OPTIONS.items()}


def apply_recipe(name: str | None, user_options: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a run: recipe ``name``'s values (none for None), overridden by ``user_options`` (the flags the
    user gave: with ``hdtf.options.add_arguments`` unset flags are absent from the namespace, so ``vars(args)``
    holds only given ones). A setting that needs a file only the user can give (``Setting.needs``: SyncNet or IQA
    weights) is left out when the user did not give it."""
    settings = get_recipe(name).OPTIONS if name else {}
    chosen = {key: s.value for key, s in settings.items() if s.needs is None or user_options.get(s.needs) is not None}
    return {**chosen, **user_options}


def recipe_record(name: str) -> dict[str, Any]:
    """What the manifest (``recipe``) and the card record of the recipe a run was prepared with."""
    recipe = get_recipe(name)
    return {"name": recipe.NAME, "version": recipe.VERSION, "trainer": recipe.TRAINER,
            "options": recipe_options(name)}


def recorded_recipe(manifest: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The recipe a run was prepared with, as its manifest records it (``recipe``: name and version), or None."""
    recipe = (manifest or {}).get("recipe")
    return {"name": recipe.get("name"), "version": recipe.get("version")} if isinstance(recipe, Mapping) else None
