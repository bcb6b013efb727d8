"""Package-level promises: light import, builder registration, console script, editable layout."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_import_is_light():
    heavy = "('torch', 'transformers', 'dlib', 'cv2', 'datasets', 'yt_dlp')"
    code = f"import sys, hdtf; bad = [m for m in {heavy} if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"import hdtf pulled in heavy modules: {out}"


@pytest.mark.parametrize("first", ["hdtf", "datasets"])
def test_builder_registered_with_datasets_in_either_import_order(first):
    second = "datasets" if first == "hdtf" else "hdtf"
    code = (
        f"import {first}, {second}\n"
        "from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES as table\n"
        "print(table['hdtf'][0], table['talkinghead_1kh'][0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["hdtf_loader", "hdtf.loaders.talkinghead_1kh"]


def test_modeling_installed_as_subpackage():
    import hdtf.modeling

    assert hdtf.modeling.__file__.replace("\\", "/").endswith("modeling/__init__.py")


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "hdtf.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "prepare" in out.stdout or "COMMAND" in out.stdout


def test_submodules_are_reachable_as_attributes_after_a_plain_import():
    """docs/storage.md writes ``hdtf.manifest.done_clips`` and ``hdtf.data.load_prepared_clips`` after ``import
    hdtf``: each submodule is imported on first access, and not before (the import stays light)."""
    code = ("import sys, hdtf\n"
            "assert 'hdtf.manifest' not in sys.modules and 'hdtf.data' not in sys.modules\n"
            "assert callable(hdtf.manifest.done_clips) and callable(hdtf.data.load_prepared_clips)\n"
            "assert 'hdtf.manifest' in sys.modules and 'torch' in sys.modules  # hdtf.data is the torch view\n"
            "try:\n    hdtf.no_such_module\nexcept AttributeError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "module 'hdtf' has no attribute 'no_such_module'"
