"""HTTP layer of the Groq stand-in and the public ``GroqStub`` class.

Standard library only (no Django), so it can run in its own process. HTTP/1.1 keep-alive is
supported because the SDKs pool connections and benchmarks would otherwise measure handshakes.
"""

from __future__ import annotations

import json
import secrets
import socket
import string
import struct
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from . import errors
from .engine import DECOMMISSIONED, Engine, Ticket, request_id
from .errors import Reply

PREFIXES = ("/openai/v1", "/v1")  # both flavors serve both, so either SDK base_url works
_ALNUM = string.ascii_letters + string.digits
_OWNERS = {"openai": "OpenAI", "qwen": "Alibaba Cloud", "llama": "Meta"}


def make_key(flavor: str = "groq", rng: Any = None) -> str:
    """A key shaped like a real one: ``gsk_`` + 52 alphanumerics, or ``sk-proj-`` + 48."""
    pick = rng.choice if rng is not None else secrets.choice
    prefix, n = ("sk-proj-", 48) if flavor == "openai" else ("gsk_", 52)
    return prefix + "".join(pick(_ALNUM) for _ in range(n))


def model_object(model: str) -> dict[str, Any]:
    owner = next((v for k, v in _OWNERS.items() if model.startswith(k)), "Groq")
    return {"id": model, "object": "model", "created": 1693721698, "owned_by": owner, "active": True,
            "context_window": 131072, "public_apps": None, "max_completion_tokens": 32768}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for slow replies or idle keep-alive connections
    allow_reuse_address = True
    request_queue_size = 256  # the default backlog of 5 drops connects when benchmarks open many at once

    def __init__(self, addr: tuple[str, int], stub: GroqStub) -> None:
        self.stub = stub
        self.conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (timeouts, resets, stop()) are normal here, not worth a traceback.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "groqstub"
    sys_version = ""
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus delayed ACKs
    # add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.conns_lock:
            self.server.conns.add(self.connection)

    def finish(self) -> None:
        with self.server.conns_lock:
            self.server.conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.stub.verbose:
            super().log_message(format, *args)

    # ----- plumbing -----
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _key(self) -> str | None:
        scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
        return (value.strip() or None) if scheme.lower() == "bearer" else None

    def _send(self, reply: Reply) -> None:
        if reply.reset:
            self._reset()
            return
        if reply.chunks is not None:
            self._stream(reply)
            return
        data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, body: Any) -> None:
        self._send(Reply(status, body, {"x-request-id": request_id()}))

    def _stream(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, str(value))
        self.end_headers()
        events = [f"data: {json.dumps(c)}\n\n".encode() for c in reply.chunks or ()] + [b"data: [DONE]\n\n"]
        for ev in events:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(ev), ev))
        self.wfile.write(b"0\r\n\r\n")

    def _reset(self) -> None:
        # SO_LINGER(on, 0) makes close() send RST, so the client sees a reset, not a clean EOF.
        # rfile holds a reference to the socket; close it too or the real close is deferred.
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    def _route(self) -> tuple[str, str] | None:
        """(prefix-less path, prefix) for API paths, None otherwise."""
        path = urlsplit(self.path).path
        for prefix in PREFIXES:
            if path.startswith(prefix + "/"):
                return path[len(prefix):], prefix
        return None

    # ----- verbs -----
    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        path = urlsplit(self.path).path
        if path == "/_stub/stats":
            return self._json(200, self.server.stub.stats())
        route = self._route()
        if route is None or not route[0].startswith("/models"):
            return self._send(errors.unknown_url("GET", path))
        if not self.server.stub.engine.authorized(self._key()):
            return self._send(errors.invalid_key())
        rest = route[0][len("/models"):]
        models = self.server.stub.engine.models
        if rest in ("", "/"):
            return self._json(200, {"object": "list", "data": [model_object(m) for m in models]})
        model = unquote(rest[1:])  # the SDKs send "openai%2Fgpt-oss-20b"; raw slashes work too
        if model not in models:
            return self._send(errors.model_not_found(model))
        return self._json(200, model_object(model))

    def do_POST(self) -> None:  # noqa: N802
        raw = self._body()
        path = urlsplit(self.path).path
        if path.startswith("/_stub/"):
            return self._control(path[len("/_stub/"):], raw)
        route = self._route()
        if route is None or route[0] != "/chat/completions":
            return self._send(errors.unknown_url("POST", path))
        stub = self.server.stub
        try:
            result = stub.engine.begin(self._key(), raw)
            if isinstance(result, Ticket):
                if result.delay > 0:
                    stub._stopping.wait(result.delay)  # returns early on stop()
                result = stub.engine.finish(result)
        except Exception:  # a stub bug: answer 500 and show it, rather than drop the connection
            traceback.print_exc()
            result = errors.generic(500)
        self._send(result)

    def _control(self, action: str, raw: bytes) -> None:
        stub = self.server.stub
        try:
            args = json.loads(raw or b"{}")
            if action == "reset_stats":
                stub.reset_stats()
            elif action == "faults":
                stub.set_faults(**args)
            elif action == "revoke":
                stub.revoke(args["key"])
            elif action == "add_key":
                stub.add_key(args["org"], args["key"])
            elif action == "enqueue":
                stub.enqueue(args["response"], key=args.get("key"))
            elif action == "block_org":
                stub.block_org(args["org"], bool(args.get("blocked", True)))
            elif action == "set_limits":
                stub.set_limits(args["org"], args["model"], dict(args["limits"]))
            elif action == "stats":
                return self._json(200, stub.stats())
            else:
                return self._json(404, {"error": {"message": f"unknown control action {action!r}",
                                                  "type": "invalid_request_error", "code": "unknown_url"}})
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return self._json(400, {"error": {"message": f"bad control request: {exc!r}",
                                              "type": "invalid_request_error", "code": None}})
        self._json(200, {"ok": True})


class GroqStub:
    """A fake Groq (or OpenAI-compatible) API on 127.0.0.1 for tests and benchmarks.

    See the package docstring for the behaviour; ``stub.url`` is the groq SDK ``base_url`` and
    ``stub.openai_base_url`` the OpenAI SDK one. ``latency`` delays admitted (200) replies only:
    Groq refuses quickly. ``window_seconds`` is the "minute"; the "day" is ``day_seconds`` or
    1440 windows. Both URL prefixes (/openai/v1 and /v1) are served in both flavors. ``limiter`` is
    ``rolling`` (exact sliding windows), ``bucket`` (token buckets) or ``mixed`` (rolling minutes,
    refilling days): see limits.py. The ``openai`` flavor's headers and 429s mean what OpenAI's do
    (requests per minute). ``waits`` is how a 429 names its wait (``exact``, ``zero``, ``none``);
    with ``prompt_cache`` repeated leading messages come back as cached tokens, uncounted. An
    organization's spec may say ``"flex": true`` (the flex service tier, ten times the limits).
    """

    def __init__(
        self, orgs: dict[str, dict] | None = None, default_limits: dict | None = None, models: Any = None,
        decommissioned: Any = DECOMMISSIONED, flavor: str = "groq", window_seconds: float = 60.0,
        day_seconds: float | None = None, latency: float = 0.0, seed: int | None = None,
        port: int = 0, host: str = "127.0.0.1", verbose: bool = False, limiter: str = "rolling",
        waits: str = "exact", prompt_cache: bool = False,
    ) -> None:
        if flavor not in ("groq", "openai"):
            raise ValueError(f"flavor must be 'groq' or 'openai', not {flavor!r}")
        self.flavor = flavor
        self.host, self.port = host, port
        self.verbose = verbose
        self.engine = Engine(
            orgs, default_limits, models, decommissioned, window_seconds, day_seconds, latency, seed, limiter,
            flavor=flavor, waits=waits, prompt_cache=prompt_cache,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # ----- lifecycle -----
    def start(self) -> GroqStub:
        if self._server is None:
            self._stopping.clear()
            self._server = _Server((self.host, self.port), self)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="groqstub", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wake sleeping slow replies
        server.shutdown()
        with server.conns_lock:
            conns = list(server.conns)
        for conn in conns:  # unblock handler threads waiting on idle keep-alive connections
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> GroqStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("GroqStub is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + ("/v1" if self.flavor == "openai" else "/openai/v1")

    @property
    def keys(self) -> dict[str, str]:
        """key -> organization, including revoked keys."""
        with self.engine.lock:
            return dict(self.engine.keys)

    # ----- control (also reachable over HTTP under /_stub/) -----
    def add_key(self, org: str, key: str) -> None:
        self.engine.add_key(org, key)

    def revoke(self, key: str) -> None:
        self.engine.revoke(key)

    def set_faults(self, error_rate: float = 0.0, error_status: int = 500, reset_rate: float = 0.0,
                   slow_rate: float = 0.0, slow_seconds: float = 0.0, capacity_rate: float = 0.0,
                   flex_capacity_rate: float = 0.0) -> None:
        self.engine.set_faults(error_rate=error_rate, error_status=error_status, reset_rate=reset_rate,
                               slow_rate=slow_rate, slow_seconds=slow_seconds, capacity_rate=capacity_rate,
                               flex_capacity_rate=flex_capacity_rate)

    def block_org(self, org: str, blocked: bool = True) -> None:
        self.engine.block_org(org, blocked)

    def set_limits(self, org: str, model: str, limits: dict[str, int]) -> None:
        self.engine.set_limits(org, model, limits)

    def enqueue(self, response: dict, key: str | None = None) -> None:
        self.engine.enqueue(response, key)

    def stats(self) -> dict[str, Any]:
        return self.engine.stats()

    def reset_stats(self) -> None:
        self.engine.reset_stats()
