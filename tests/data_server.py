"""A real HTTP server on 127.0.0.1 for download tests (no network needed).

    with DataServer({"/a.bin": payload}) as srv:
        srv.behave("/a.bin", cut_at=1000, cut_times=1)   # first answer stops after 1000 bytes
        download(srv.url("/a.bin"), dest)
        assert srv.requests[-1].headers.get("Range") == "bytes=1000-"

Files are served from a dict (path -> bytes) and/or a folder. Per-path :class:`Behaviour`s
simulate servers that ignore ``Range``, drop the connection mid-body (``Content-Length`` still
announces the whole body), answer with an error status a number of times, or send no
``Content-Length``. Every request is recorded in ``requests``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType


@dataclass
class Behaviour:
    ranges: bool = True  # honour "Range: bytes=N-" (206); False: always 200 with the whole body
    cut_at: int | None = None  # stop sending at this byte offset of the file, then close
    cut_times: int | None = None  # apply cut_at to this many responses (None: always)
    status: int | None = None  # answer with this status (and no body) ...
    status_times: int | None = None  # ... this many times (None: always)
    content_length: bool = True  # False: no Content-Length, body ends when the connection closes


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class DataServer:
    files: dict[str, bytes] = field(default_factory=dict)
    root: Path | None = None
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control -------------------------------------------------------------------------------
    def behave(self, path: str, **kwargs: object) -> Behaviour:
        b = Behaviour(**kwargs)  # type: ignore[arg-type]
        self.behaviours[path] = b
        return b

    def url(self, path: str) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_port}{path}"

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> DataServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: a cut is a close

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                server._handle(self)

            def do_HEAD(self) -> None:  # noqa: N802
                server._handle(self, head=True)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> DataServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- serving -------------------------------------------------------------------------------
    def _body(self, path: str) -> bytes | None:
        if path in self.files:
            return self.files[path]
        if self.root is not None:
            p = (self.root / path.lstrip("/")).resolve()
            if p.is_file() and self.root.resolve() in p.parents:
                return p.read_bytes()
        return None

    def _take(self, path: str, what: str, limit: int | None) -> bool:
        """Whether the behaviour ``what`` applies to this response (counting its uses)."""
        with self._lock:
            n = self._counts.get((path, what), 0)
            if limit is not None and n >= limit:
                return False
            self._counts[(path, what)] = n + 1
            return True

    def _handle(self, h: BaseHTTPRequestHandler, head: bool = False) -> None:
        path = h.path.split("?", 1)[0]
        with self._lock:
            self.requests.append(Request(h.command, path, dict(h.headers.items())))
        b = self.behaviours.get(path, Behaviour())
        if b.status is not None and self._take(path, "status", b.status_times):
            h.send_response(b.status)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        body = self._body(path)
        if body is None:
            h.send_error(404)
            return
        start = 0
        rng = h.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-", rng.strip()) if rng else None
        if b.ranges and m:
            start = int(m.group(1))
            if start >= len(body):
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(body)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            h.send_response(200)
        h.send_header("Accept-Ranges", "bytes" if b.ranges else "none")
        if b.content_length:
            h.send_header("Content-Length", str(len(body) - start))
        h.end_headers()
        if head:
            return
        end = len(body)
        if b.cut_at is not None and self._take(path, "cut", b.cut_times):
            end = max(start, min(end, b.cut_at))
        try:
            h.wfile.write(body[start:end])
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True
