"""y = 2x + 1 behind /ping and /invocations, with the standard library only (a test model)."""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOPE = float(os.environ.get("SLOPE", "2"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/ping":
            self._answer(200, b'{"status": "ok"}')
        else:
            self._answer(404, b'{"error": "no such path"}')

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/invocations":
            self._answer(404, b'{"error": "no such path"}')
        elif self.headers.get("Content-Type", "").startswith("text/csv"):
            rows = [float(line) for line in data.decode().split()]
            self._answer(200, "".join(f"{SLOPE * x + 1:g}\n" for x in rows).encode(), "text/csv")
        else:
            try:
                rows = json.loads(data)["instances"]
                answer = {"predictions": [SLOPE * float(row[0]) + 1 for row in rows]}
            except (ValueError, KeyError, TypeError, IndexError) as error:
                self._answer(
                    400, json.dumps({"error": f"send {{'instances': [[x], ...]}}: {error}"}).encode()
                )
                return
            self._answer(200, json.dumps(answer).encode())


if __name__ == "__main__":
    server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Handler)
    print(f"serving on {server.server_address}", flush=True)
    server.serve_forever()
