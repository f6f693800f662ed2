"""Tiny real HTTP servers on 127.0.0.1 for the host's outbound tests (each in its own thread)."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.port = 0

    @property
    def count(self) -> int:
        return len(self.requests)


def _handler(recorder: Recorder, routes: dict[str, Callable]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            recorder.requests.append({"method": self.command, "path": parts.path, "query": parse_qs(parts.query),
                                      "headers": dict(self.headers), "body": body})
            route = routes.get(parts.path)
            if route is None:
                self._send(404, b"not found")
                return
            route(self, parse_qs(parts.query), body)

        def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler


def json_reply(payload, status: int = 200):
    def route(handler, query, body):
        handler._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    return route


def redirect(location: str, status: int = 302):
    def route(handler, query, body):
        handler._send(status, b"", {"Location": location})
    return route


def echo(handler, query, body):
    handler._send(200, json.dumps({"headers": dict(handler.headers), "body": body.decode(),
                                   "method": handler.command}).encode(), {"Content-Type": "application/json"})


def big(size: int, declare_length: bool = True):
    def route(handler, query, body):
        if declare_length:
            handler._send(200, b"x" * size, {"Content-Type": "text/plain"})
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < size:
                handler.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass
    return route


def binary(handler, query, body):
    handler._send(200, bytes(range(256)), {"Content-Type": "application/octet-stream"})


def slow(seconds: float):
    def route(handler, query, body):
        time.sleep(seconds)
        handler._send(200, b"late")
    return route


@contextmanager
def serve(routes: dict[str, Callable] | Callable[[Recorder], dict[str, Callable]]) -> Iterator[Recorder]:
    recorder = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder, {}))
    recorder.port = server.server_address[1]
    table = routes(recorder) if callable(routes) else routes
    server.RequestHandlerClass = _handler(recorder, table)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # a client that gave up is expected here
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
