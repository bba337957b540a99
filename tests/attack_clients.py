"""Hostile HTTP clients for the attack tests: raw sockets on loopback, bounded in time and bytes."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field


def multipart_head(filename: str, boundary: str = "sl0w") -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()


@dataclass
class SlowUpload:
    """One client sending a multipart body of ``body_bytes`` at ``bytes_per_s`` (the issue's 1 KB/s)."""

    host: str
    port: int
    body_bytes: int = 100_000
    bytes_per_s: int = 1000
    max_s: float = 40.0  # the client gives up after this (the test's bound, not the server's)
    status: int | None = None  # the answer's status, once one came
    error_code: str | None = None
    answered_after_s: float | None = None
    sent: int = 0
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> SlowUpload:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        assert self._thread is not None
        self._thread.join(timeout)

    def _run(self) -> None:
        boundary = "sl0w"
        head = multipart_head("slow.mp4", boundary)
        tail = f"\r\n--{boundary}--\r\n".encode()
        length = len(head) + self.body_bytes + len(tail)
        started = time.monotonic()
        with socket.create_connection((self.host, self.port), timeout=self.max_s) as s:
            s.sendall((f"POST /v1/analyze HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: multipart/form-data; "
                       f"boundary={boundary}\r\nContent-Length: {length}\r\n\r\n").encode() + head)
            s.settimeout(0.0)
            answer = b""
            while time.monotonic() - started < self.max_s and self.sent < self.body_bytes:
                try:
                    answer += s.recv(65536)
                    if answer:
                        break  # the server answered before the body was whole
                except BlockingIOError:
                    pass
                try:
                    s.sendall(b"\0" * min(self.bytes_per_s, self.body_bytes - self.sent))
                except OSError:
                    break  # the server closed the connection
                self.sent += self.bytes_per_s
                time.sleep(1.0)
            s.settimeout(max(1.0, self.max_s - (time.monotonic() - started)))
            try:
                while b"\r\n\r\n" not in answer or not _complete(answer):
                    more = s.recv(65536)
                    if not more:
                        break
                    answer += more
            except OSError:
                pass
        if answer.startswith(b"HTTP/1.1 "):
            self.status = int(answer[9:12])
            self.answered_after_s = time.monotonic() - started
            try:
                self.error_code = json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"]
            except (ValueError, KeyError, TypeError):
                pass


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True
