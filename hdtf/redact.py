"""What a shared file must not carry: credentials in URLs and this machine's paths.

Everything hdtf writes for others to read (``manifest.json``, ``status/*.json``, dataset and model cards, model
directories) goes through these helpers, so the rules live in one place:

- a URL keeps its scheme, host, path and harmless query parameters; the password of ``user:password@`` becomes
  ``***`` (a bare ``token@`` user part, the usual way to put a token in a URL, becomes ``***`` as a whole), and so
  does the value of every query parameter whose name says it is a credential (``token``, ``key``, ``sig``,
  ``signature``, ``secret``, ``password``, ``auth``, ``credential``, ``session``, ``jwt``, ``hmac``, Akamai's
  ``hdnts``/``hdnea``, AWS/GCS ``X-Amz-*``/``X-Goog-*`` signing fields, ...); a fragment (``#...``: never sent to a
  server, so it holds nothing a download needs, but often a key or ``access_token=``) becomes ``***`` as a whole;
- a password may hold ``/ ? # )`` (written unescaped, as users do): the user part then runs to the first ``@``
  that a host follows; a proxy given without a scheme (``user:password@host:port``, as yt-dlp takes it) is masked
  the same way. A password that starts with digits and then ``/``, ``?`` or ``#`` cannot be told from a port;
- free text (an error message that quotes a URL) gets the same treatment for every URL in it; a download's failure
  reason also loses the proxy's and the video URL's credentials wherever it quotes a piece of them;
- a file of a prepared run is named relative to the run's folder; a path outside it by its name only.

Placeholders of a URL template (``{name}``) pass through unchanged, so a redacted template still shows its shape.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

__all__ = ["MASK", "hide_credentials", "redact_text", "redact_url", "scrub", "shareable_name", "shareable_path"]

MASK = "***"
# Query parameter names that carry credentials (matched anywhere in the lower-cased name).
_SECRET_PARAM = re.compile(
    r"token|key|sig|secret|passw|pwd|auth|credential|session|jwt|hmac|hdnts|hdnea|x-amz-|x-goog-|policy",
    re.IGNORECASE,
)
# A URL inside free text: a scheme, then anything up to whitespace, a quote or a closing bracket; a user:password@
# part first may hold brackets and / ? # (a password written unescaped).
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^\s@/:'\"<>]*:[^\s@'\"<>]*@)?"
                          r"[^\s'\"<>()\[\]{}]*(?:\{[^\s{}]*\}[^\s'\"<>()\[\]{}]*)*")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# What may follow the user part's '@': a host (a name, an IP, an [IPv6] literal or a {placeholder}), a port, then the
# end of the authority.
_HOST_AFTER = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[^\s/?#@:\[\]]+)(?::\d*)?(?:[/?#]|$)")


def redact_url(url: str) -> str:
    """``url`` without credentials: masked password / token user part, credential-bearing query values and the
    fragment. A string without a scheme (a proxy as yt-dlp takes it, ``user:password@host:port``) is read as an
    authority first."""
    scheme = _SCHEME.match(url)
    head = scheme.group(0) if scheme else ""
    user_info, rest = _user_info(url[len(head):])
    if user_info is None and not scheme:  # a path, a repo id, a template: only its query and fragment
        return _redact_tail(url)
    if user_info is not None:
        user, has_password, _ = user_info.partition(":")
        head += f"{user}:{MASK}@" if has_password else f"{MASK}@"
    return head + _redact_tail(rest)


def _user_info(rest: str) -> tuple[str | None, str]:
    """(the user part of ``rest``, a URL after its ``scheme://``, or None; what follows its ``@``). The user part
    normally ends at the authority's last ``@``; a password holding ``/ ? #`` makes the authority look shorter, so
    when no host follows that ``@``, or the authority is ``user:`` and something that is no port, the user part runs
    to the first later ``@`` a host follows."""
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    usual = authority.rindex("@") if "@" in authority else None
    if usual is not None and _HOST_AFTER.match(rest, usual + 1):
        return rest[:usual], rest[usual + 1:]
    user, colon, start = authority.partition(":")
    if usual is not None or (colon and user and not re.fullmatch(r"\d+", start)):
        for at in (i for i in range(len(authority), len(rest)) if rest[i] == "@"):
            if _HOST_AFTER.match(rest, at + 1):
                return rest[:at], rest[at + 1:]
    return (None, rest) if usual is None else (rest[:usual], rest[usual + 1:])


def hide_credentials(text: str, url: str | None) -> str:
    """``text`` without the credentials of ``url``'s user part (its password, or a token user part; as written,
    percent-decoded, and its pieces between ``/ ? # @``) wherever they appear: for a client's message that quotes a
    piece of a URL it could not parse (urllib3 on a proxy: ``'alice:pw' is not a valid host or port``), which no URL
    pattern finds. Pieces shorter than 3 characters are left (they would mask ordinary words)."""
    if not url:
        return text
    scheme = _SCHEME.match(url)
    user_info, _ = _user_info(url[len(scheme.group(0)) if scheme else 0:])
    if user_info is None:
        return text
    user, has_password, password = user_info.partition(":")
    secret = password if has_password else user
    pieces = {secret, unquote(secret), *re.split(r"[/?#@]", secret)}  # a parser stops at the first of those
    for piece in sorted(pieces, key=len, reverse=True):
        if len(piece) >= 3:
            text = text.replace(piece, MASK)
    return text


def _redact_tail(text: str) -> str:
    """``text`` (a URL's part after its user part, or a string without a scheme) with credential-bearing query values
    and the fragment masked; the rest as written."""
    text, hash_mark, fragment = text.partition("#")
    base, question_mark, query = text.partition("?")
    query = "&".join(_redact_param(p) for p in query.split("&")) if query else query
    return f"{base}{question_mark}{query}{hash_mark}{MASK if fragment else ''}"


def _redact_param(param: str) -> str:
    name, eq, value = param.partition("=")
    if eq and value and _SECRET_PARAM.search(name):
        return f"{name}={MASK}"
    return param


def redact_text(text: str, root: str | os.PathLike | None = None) -> str:
    """Free text with every URL in it redacted, ``root`` (a run's folder) written relative to it and the home
    folder as ``~``."""
    return _redacted(text, _places(root))


def _places(root: str | os.PathLike | None) -> list[tuple[str, str]]:
    """The spellings of ``root`` (as ".") and of the home folder (as "~") that text is rewritten with: worked out
    once for a whole document (resolving a folder costs a system call per part of its path)."""
    places = [(s, ".") for s in _spellings(root)] if root is not None else []
    home = os.path.expanduser("~")
    if home not in ("~", os.sep):
        places += [(s, "~") for s in _spellings(home)]
    return places


def _redacted(text: str, places: list[tuple[str, str]]) -> str:
    if "://" in text:  # every URL the pattern finds has a scheme
        text = _URL_IN_TEXT.sub(_redact_match, text)
    for spelling, short in places:
        if spelling not in text:
            continue
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
    return _scrubbed(value, _places(root))


def _scrubbed(value: Any, places: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        return _redacted(value, places)
    if isinstance(value, Mapping):
        return {key: _scrubbed(item, places) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrubbed(item, places) for item in value]
    return value
