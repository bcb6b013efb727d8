"""What a shared file must not carry: credentials in URLs and this machine's paths.

Everything hdtf writes for others to read (``manifest.json``, ``status/*.json``, dataset and model cards, model
directories) goes through these helpers, so the rules live in one place:

- a URL keeps its scheme, host, path and harmless query parameters; the password of ``user:password@`` becomes
  ``***`` (a bare ``token@`` user part, the usual way to put a token in a URL, becomes ``***`` as a whole), and so
  does the value of every query parameter whose name says it is a credential (``token``, ``key``, ``sig``,
  ``signature``, ``secret``, ``password``, ``auth``, ``credential``, ``session``, AWS/GCS ``X-Amz-*``/``X-Goog-*``
  signing fields, ...);
- free text (an error message that quotes a URL) gets the same treatment for every URL in it;
- a file of a prepared run is named relative to the run's folder; a path outside it by its name only.

Placeholders of a URL template (``{name}``) pass through unchanged, so a redacted template still shows its shape.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["MASK", "redact_text", "redact_url", "scrub", "shareable_name", "shareable_path"]

MASK = "***"
# Query parameter names that carry credentials (matched anywhere in the lower-cased name).
_SECRET_PARAM = re.compile(
    r"token|key|sig|secret|passw|pwd|auth|credential|session|x-amz-|x-goog-|policy", re.IGNORECASE
)
# A URL inside free text: a scheme, then anything up to whitespace, a quote or a closing bracket.
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]{}]*(?:\{[^\s{}]*\}[^\s'\"<>()\[\]{}]*)*")


def redact_url(url: str) -> str:
    """``url`` without credentials: masked password / token user part and credential-bearing query values."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not parseable as a URL (a bad IPv6 host, ...): mask whatever looks like user info
        return re.sub(r"//[^/@\s]*@", f"//{MASK}@", url)
    netloc = parts.netloc
    if "@" in netloc:
        user_info, host = netloc.rsplit("@", 1)
        user, has_password, _ = user_info.partition(":")
        netloc = f"{user}:{MASK}@{host}" if has_password else f"{MASK}@{host}"
    query = "&".join(_redact_param(p) for p in parts.query.split("&")) if parts.query else parts.query
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _redact_param(param: str) -> str:
    name, eq, value = param.partition("=")
    if eq and value and _SECRET_PARAM.search(name):
        return f"{name}={MASK}"
    return param


def redact_text(text: str, root: str | os.PathLike | None = None) -> str:
    """Free text with every URL in it redacted, ``root`` (a run's folder) written relative to it and the home
    folder as ``~``."""
    text = _URL_IN_TEXT.sub(_redact_match, text)
    places = [(s, ".") for s in _spellings(root)] if root is not None else []
    home = os.path.expanduser("~")
    if home not in ("~", os.sep):
        places += [(s, "~") for s in _spellings(home)]
    for spelling, short in places:
        # the folder itself, or a file in it; not a longer name that merely starts with the same characters
        pattern = re.escape(spelling) + r"(?:(/)|(?![\w-])(?!\.\w))"
        text = re.sub(pattern, lambda m, short=short: "" if m.group(1) and short == "." else short + (m.group(1) or ""),
                      text)
    return text


def _redact_match(match: re.Match) -> str:
    """A URL found in text, redacted; sentence punctuation right after it stays outside it."""
    url = match.group(0)
    kept = len(url.rstrip(".,:;!?"))
    return redact_url(url[:kept]) + url[kept:]


def _spellings(root: str | os.PathLike) -> list[str]:
    """The ways a folder may be written in a message (as given and resolved), longest first."""
    given = os.path.abspath(os.fspath(root))
    found = {given, str(Path(given).resolve())}
    return sorted((s for s in found if s not in (os.sep, "")), key=len, reverse=True)


def shareable_path(path: str | os.PathLike | None, root: str | os.PathLike) -> str | None:
    """``path`` as a shared file may name it: relative to ``root`` when inside it ("." for root), else its name."""
    if path is None:
        return None
    path = Path(os.path.abspath(os.fspath(path)))
    for spelling in _spellings(root):
        try:
            return path.relative_to(spelling).as_posix() or "."
        except ValueError:
            continue
    return path.name


def shareable_name(value: str | os.PathLike) -> str:
    """What a report may call a model or dataset given as a local path, a Hub id or a URL: an existing local path by
    its name, anything else redacted (``user/repo`` stays as it is)."""
    text = os.fspath(value)
    return Path(text).name if os.path.exists(text) else redact_url(text) if "://" in text else text


def scrub(value: Any, root: str | os.PathLike | None = None) -> Any:
    """A JSON-like value with :func:`redact_text` applied to every string in it (keys kept as they are)."""
    if isinstance(value, str):
        return redact_text(value, root)
    if isinstance(value, Mapping):
        return {key: scrub(item, root) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(item, root) for item in value]
    return value
