"""JSON-lines messages between the supervisor and its worker over a socket pair.

Each side sends models (``results.models``) and receives validated models of the kind its peer
sends: the supervisor :data:`~inferlab.results.models.WorkerMessage`, the worker
:class:`~inferlab.results.models.Start`. One validation per message (heartbeats: once a second).
"""

from __future__ import annotations

import select
import socket
from typing import Generic, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from inferlab.core.errors import InferlabError
from inferlab.results.models import AnyWorkerMessage, Start, WorkerMessage

T = TypeVar("T")


class ProtocolError(InferlabError):
    """A message that is not JSON or not one the receiver knows (a supervisor/worker mismatch)."""


class Channel(Generic[T]):
    def __init__(self, sock: socket.socket, incoming: TypeAdapter[T]) -> None:
        self._sock = sock
        self._incoming = incoming
        self._buf = b""

    def send(self, msg: BaseModel) -> None:
        data = msg.model_dump_json(fallback=str).encode() + b"\n"
        self._sock.sendall(data)

    def recv(self, timeout: float | None = None) -> T | None:
        """The next message, or None on timeout. Raises EOFError when the peer closed and
        :class:`ProtocolError` for a message that does not validate."""
        while b"\n" not in self._buf:
            ready, _, _ = select.select([self._sock], [], [], timeout)
            if not ready:
                return None
            chunk = self._sock.recv(65536)
            if not chunk:
                raise EOFError("peer closed the channel")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        try:
            return self._incoming.validate_json(line)
        except ValidationError as exc:
            raise ProtocolError(
                f"unexpected message on the worker channel: {exc.errors()[0]['msg']} "
                f"({line[:200]!r})",
                "the supervisor and the worker must be the same inferlab; reinstall it",
            ) from None

    def close(self) -> None:
        self._sock.close()


WORKER_MESSAGES: TypeAdapter[AnyWorkerMessage] = TypeAdapter(WorkerMessage)
START: TypeAdapter[Start] = TypeAdapter(Start)


def supervisor_channel(sock: socket.socket) -> Channel[AnyWorkerMessage]:
    """The supervisor's end: receives :data:`WorkerMessage`."""
    return Channel(sock, WORKER_MESSAGES)


def worker_channel(sock: socket.socket) -> Channel[Start]:
    """The worker's end: receives :class:`Start`."""
    return Channel(sock, START)
