"""A tiny HTTP server for a local folder, so yt-dlp and ffmpeg can be exercised end to end without the internet.

Tests and the demo serve generated videos with it. It answers GET and HEAD, honours single byte ranges (ffmpeg and
yt-dlp seek and resume with them; ``ranges=False`` imitates a server that ignores them and always sends the whole
file), returns 404 for missing files, logs nothing, and can record every request it served so a caller can check,
for example, that a second run downloaded nothing.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ServedRequest:
    """One request the server answered: method, URL path, HTTP status and body bytes sent."""

    method: str
    path: str
    status: int
    bytes_sent: int


class _Handler(SimpleHTTPRequestHandler):
    """Static files with byte ranges; quiet; optionally recording what it served."""

    protocol_version = "HTTP/1.1"

    def __init__(self, *args, record: list[ServedRequest] | None = None, rate: float | None = None,
                 ranges: bool = True, **kwargs):
        self._record, self._rate, self._ranges = record, rate, ranges
        self._range: tuple[int, int] | None = None
        self._status = 0
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base class
        pass

    def send_response(self, code, message=None):
        self._status = int(code)
        super().send_response(code, message)

    def send_head(self):
        self._range = None
        path = self.translate_path(self.path)
        if os.path.isdir(path) or not os.path.isfile(path):
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        size = os.path.getsize(path)
        wanted = _RANGE.match(self.headers.get("Range", "").strip()) if self._ranges else None
        if wanted is None or not any(wanted.groups()):
            return super().send_head()
        first, last = wanted.groups()
        if first:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        else:
            start, end = max(size - int(last), 0), size - 1
        if start >= size or start > end:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        f = open(path, "rb")  # noqa: SIM115 - closed by the base class after copyfile
        f.seek(start)
        self._range = (start, end)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return f

    def end_headers(self):
        if self._range is None and self._status == HTTPStatus.OK and self._ranges:
            self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def copyfile(self, source, outputfile):
        length = None if self._range is None else self._range[1] - self._range[0] + 1
        began, sent = time.monotonic(), 0
        try:
            while length is None or sent < length:
                chunk = source.read(_CHUNK if length is None else min(_CHUNK, length - sent))
                if not chunk:
                    break
                outputfile.write(chunk)
                sent += len(chunk)
                if self._rate:
                    time.sleep(max(0.0, sent / self._rate - (time.monotonic() - began)))
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading (seek, kill): not our problem
            pass
        self._bytes = sent

    def do_GET(self):
        self._bytes = 0
        try:
            super().do_GET()
        finally:
            self._note("GET")

    def do_HEAD(self):
        self._bytes = 0
        try:
            super().do_HEAD()
        finally:
            self._note("HEAD")

    def _note(self, method: str) -> None:
        if self._record is not None:
            self._record.append(ServedRequest(method, self.path, self._status, self._bytes))


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients that hang up mid-transfer are normal here
        pass


@contextlib.contextmanager
def serve_directory(
    root: Path, record: list[ServedRequest] | None = None, rate: float | None = None, ranges: bool = True
) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (ephemeral port) in a background thread; yield the base URL (no trailing slash).

    If ``record`` is given, every answered request is appended to it as a :class:`ServedRequest`. ``rate`` (bytes
    per second per response) imitates a real network link, so benchmarks measure transfer cost, not memcpy.
    ``ranges`` False: Range headers are ignored (a plain 200 with the whole file, no ``Accept-Ranges``).
    """
    handler = functools.partial(_Handler, directory=str(root), record=record, rate=rate, ranges=ranges)
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="hdtf-loopback", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
