"""A local stand-in for Seg's tracker: records every request, answers as scripted.

The run command starts it when SEG_TRACKER_URL is not set, so deliveries can
be watched without a Seg account; tests script it to answer 2xx, 4xx, 429
with Retry-After, 5xx, slowly, or not at all, with a body cut short or sent a
byte at a time, and may answer one Idempotency-Key apart. It never forwards
anything.

Control endpoints (for a sandbox in another process):
``GET /_sandbox/received`` lists what arrived; ``DELETE`` clears it;
``POST /_sandbox/script`` with ``{"answers": [...], "default": {...}}`` sets
the answers (each ``{"status", "body", "headers", "delay", "cut_after", "trickle",
"trickle_from"}``); with ``"website": "<Website Id>"``, that website's alone (the
path's ``/django/<Website Id>/``): one store's Seg down while the others answer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger("integrations.sandbox")

BANNER = "SEG SANDBOX: a local stand-in for Seg. Nothing sent here reaches Seg."


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=lambda: {"success": True})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Only the first ``cut_after`` bytes of the body leave (Content-Length says
    # all of them), then the connection is closed.
    cut_after: int | None = None
    # Seconds between single bytes of the answer from ``trickle_from`` on: the
    # "status" line, the "headers" (after the status line) or the "body".
    trickle: float = 0.0
    trickle_from: str = "body"

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Answer:
        return cls(
            status=int(raw.get("status", 200)),
            body=raw.get("body", {"success": True}),
            headers=dict(raw.get("headers", {})),
            delay=float(raw.get("delay", 0.0)),
            cut_after=None if raw.get("cut_after") is None else int(raw["cut_after"]),
            trickle=float(raw.get("trickle", 0.0)),
            trickle_from=str(raw.get("trickle_from", "body")),
        )


@dataclass
class Received:
    path: str
    action: str
    website_id: str
    headers: dict[str, str]
    body: Any
    status: int
    at: str


class Sandbox:
    """The server and what it has seen; safe to use from several threads."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        keep: int = 100_000,
        log_level: int = logging.DEBUG,
    ) -> None:
        self.log_level = log_level
        self._lock = threading.Lock()
        self._answers: deque[Answer] = deque()
        self._for_key: dict[str, deque[Answer]] = {}
        # A website's own script: its answers in order, then its default (None: the
        # sandbox's).
        self._for_website: dict[str, tuple[deque[Answer], Answer | None]] = {}
        self._default = Answer()
        self.received: deque[Received] = deque(maxlen=keep)
        self.arrived = 0  # requests that arrived, answered or not yet
        self.server = ThreadingHTTPServer((host, port), _handler_for(self))
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Sandbox:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def script(self, *answers: Answer, default: Answer | None = None) -> None:
        """Answer the next requests with ``answers`` in order, then with ``default``."""
        with self._lock:
            self._answers = deque(answers)
            if default is not None:
                self._default = default

    def script_key(self, key: str, *answers: Answer) -> None:
        """Answer the next requests that carry Idempotency-Key ``key`` with ``answers``."""
        with self._lock:
            self._for_key[key] = deque(answers)

    def script_website(
        self, website_id: str, *answers: Answer, default: Answer | None = None
    ) -> None:
        """Answer the next requests to Website Id ``website_id`` with ``answers`` in order,
        then with ``default`` (None: the sandbox's default); other websites are answered
        as scripted for all."""
        with self._lock:
            self._for_website[website_id] = (deque(answers), default)

    def answer_for_website(self, website_id: str) -> Answer | None:
        """The next answer scripted for ``website_id``, counted as arrived; else None."""
        with self._lock:
            own = self._for_website.get(website_id)
            if own is None:
                return None
            self.arrived += 1
            return own[0].popleft() if own[0] else own[1] or self._default

    def answer_for_key(self, key: str) -> Answer | None:
        """The next answer scripted for Idempotency-Key ``key``, counted as arrived; else None."""
        with self._lock:
            own = self._for_key.get(key)
            if not own:
                return None
            self.arrived += 1
            return own.popleft()

    def next_answer(self) -> Answer:
        with self._lock:
            self.arrived += 1
            return self._answers.popleft() if self._answers else self._default

    def record(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def delivered(self) -> list[Received]:
        """Requests answered 2xx."""
        return [r for r in self.snapshot() if 200 <= r.status < 300]

    def delivered_keys(self) -> Counter[str]:
        """How many 2xx answers each Idempotency-Key got."""
        return Counter(r.headers.get("Idempotency-Key", "") for r in self.delivered())

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self.arrived = 0
            self._answers.clear()
            self._for_key.clear()
            self._for_website.clear()
            self._default = Answer()


def _handler_for(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "SegSandbox/1"
        # Headers and body leave in one write, with no Nagle delay: otherwise
        # every keep-alive answer waits ~40 ms for the client's delayed ACK.
        disable_nagle_algorithm = True
        wbufsize = 64 * 1024

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug(format, *args)

        def finish(self) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                super().finish()  # a client that hung up on a scripted answer

        def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self) -> None:
            if self.path.startswith("/_sandbox/received"):
                self._reply(200, [asdict(r) for r in sandbox.snapshot()])
            else:
                self._reply(200, {"sandbox": BANNER, "received": len(sandbox.received)})

        def do_DELETE(self) -> None:
            sandbox.clear()
            self._reply(200, {"cleared": True})

        def do_POST(self) -> None:
            raw = self._body()
            if self.path.startswith("/_sandbox/script"):
                spec = json.loads(raw or b"{}")
                default = spec.get("default")
                answers = [Answer.parse(a) for a in spec.get("answers", [])]
                default = Answer.parse(default) if default else None
                if website := spec.get("website"):
                    sandbox.script_website(str(website), *answers, default=default)
                else:
                    sandbox.script(*answers, default=default)
                self._reply(200, {"scripted": True})
                return
            key = self.headers.get("Idempotency-Key", "")
            parts = self.path.strip("/").split("/")
            website_id = parts[1] if len(parts) > 2 else ""
            answer = (
                sandbox.answer_for_key(key)
                or sandbox.answer_for_website(website_id)
                or sandbox.next_answer()
            )
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            if answer.delay:
                time.sleep(answer.delay)
            sandbox.record(
                Received(
                    path=self.path,
                    action=parts[-1] if parts else "",
                    website_id=website_id,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "authorization"},
                    body=body,
                    status=answer.status,
                    at=datetime.now(UTC).isoformat(),
                )
            )
            logger.log(sandbox.log_level, "SEG SANDBOX received %s -> %s", self.path, answer.status)
            if answer.cut_after is None and not answer.trickle:
                self._reply(answer.status, answer.body, answer.headers)
            else:
                self._reply_badly(answer)

        def _reply_badly(self, answer: Answer) -> None:
            """The answer cut short after ``cut_after`` bytes of its body, or trickled."""
            body = answer.body
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            status = f"HTTP/1.1 {answer.status} Scripted\r\n".encode()
            headers = {"Content-Type": "application/json", "Content-Length": str(len(data))}
            lines = [f"{k}: {v}\r\n" for k, v in (headers | answer.headers).items()]
            head = "".join(lines).encode("latin-1") + b"\r\n"
            if answer.cut_after is not None:
                data = data[: answer.cut_after]
                self.close_connection = True
            whole = status + head + data
            at = {"status": 0, "headers": len(status)}.get(answer.trickle_from, len(status + head))
            if not answer.trickle:
                at = len(whole)
            try:
                self.wfile.write(whole[:at])
                self.wfile.flush()
                for i in range(at, len(whole)):
                    time.sleep(answer.trickle)
                    self.wfile.write(whole[i : i + 1])
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler
