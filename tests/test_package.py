"""Package-level promises: light import, builder registration, console script, editable layout."""

from __future__ import annotations

import subprocess
import sys


def test_import_is_light():
    code = "import sys, hdtf; bad = [m for m in ('torch', 'transformers', 'dlib', 'cv2') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"import hdtf pulled in heavy modules: {out}"


def test_builder_registered_with_datasets():
    import hdtf  # noqa: F401
    from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES

    assert _PACKAGED_DATASETS_MODULES["hdtf"][0] == "hdtf_loader"


def test_modeling_installed_as_subpackage():
    import hdtf.modeling

    assert hdtf.modeling.__file__.replace("\\", "/").endswith("modeling/__init__.py")


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "hdtf.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "prepare" in out.stdout or "COMMAND" in out.stdout
