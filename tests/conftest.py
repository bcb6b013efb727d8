"""Shared fixtures. Heavy fixtures (loopback server, real-face video) live in tests/fixtures/ and are built once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HDTF_SHARED_DIR", REPO.parent / "shared"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's ../shared folder; tests that need it skip with a reason in a user's clone."""
    if not SHARED.is_dir():
        pytest.skip(f"../shared not found at {SHARED} (set HDTF_SHARED_DIR); skipping tests that read real files")
    return SHARED


@pytest.fixture(scope="session")
def metadata_dir(shared_dir: Path) -> Path:
    path = shared_dir / "hdtf_metadata"
    if not path.is_dir():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="session")
def face_photo(shared_dir: Path) -> Path:
    path = shared_dir / "media" / "mona_lisa_512.jpg"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="session")
def speech_wav(shared_dir: Path) -> Path:
    path = shared_dir / "media" / "speech_16k_mono.wav"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="session")
def hub():
    """The loopback Hub stand-in (tests/fixtures/hub_server.py), one per session; clients reach it through
    ``fixtures.hub_server.client_env`` in a subprocess."""
    from fixtures.hub_server import serve_hub

    with serve_hub() as server:
        yield server
