#!/usr/bin/env python3
"""Static server and tiny API for the Mug Shop (examples/shop). Standard library only.

    python examples/shop/build.py                                   # bundle the SDKs once (esbuild)
    python examples/shop/server.py --port 8080 --otlp http://127.0.0.1:4318 --sdk otel
    # open http://127.0.0.1:8080/shop/?coupon_error=1&payment=fail

Serves
  /shop/, /product/<id>, /cart, /checkout/{shipping,payment,review,confirmation}   the single-page app (index.html)
  /config.js     window.SHOP_CONFIG = {otlp, serviceName, friction, ...} from the flags
  /bundle.js     build/otel.js or build/faro.js (--sdk), empty with --sdk none
  /static/*      public/ (app.js, style.css, gallery.svg)
  POST /api/cart {sku, qty}          -> {"ok": true, "items": n}
  POST /api/pay  {mode: ok|slow|fail} -> 200 {"ok": true}; slow waits --slow-ms first; fail answers 502
The page's `payment` switch picks the mode (query ?payment=fail, default --payment).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
PUBLIC = HERE / "public"
BUILD = HERE / "build"
SPA_PREFIXES = ("/shop", "/product/", "/cart", "/checkout/")
TYPES = {".js": "application/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html"}


class ShopServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, *, otlp: str, sdk: str = "otel", service_name: str | None = None,
                 payment: str = "ok", slow_ms: int = 1200, friction: dict | None = None):
        self.otlp = otlp
        self.sdk = sdk
        self.service_name = service_name or ("mug-shop-faro" if sdk == "faro" else "mug-shop")
        self.payment = payment
        self.slow_ms = slow_ms
        self.friction = {"fake_link": True, "coupon_error": False, "payment": payment, **(friction or {})}
        self.api_calls: list[dict] = []
        self.lock = threading.Lock()
        super().__init__((host, port), _Handler)
        self.url = f"http://{host}:{self.server_address[1]}"

    def config_js(self) -> bytes:
        cfg = {"otlp": self.otlp, "sdk": self.sdk, "serviceName": self.service_name, "serviceVersion": "1.0.0",
               "environment": "e2e", "friction": self.friction}
        return f"window.SHOP_CONFIG = {json.dumps(cfg)};\n".encode()

    def start(self) -> "ShopServer":
        threading.Thread(target=self.serve_forever, name="shop-server", daemon=True).start()
        return self

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ShopServer
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path == "/config.js":
            return self._send(200, self.server.config_js(), TYPES[".js"])
        if path == "/bundle.js":
            if self.server.sdk == "none":
                return self._send(200, b"", TYPES[".js"])
            bundle = BUILD / f"{self.server.sdk}.js"
            if not bundle.exists():
                return self._send(500, f"{bundle} missing: run examples/shop/build.py".encode(), "text/plain")
            return self._send(200, bundle.read_bytes(), TYPES[".js"])
        if path.startswith("/static/"):
            f = (PUBLIC / path[len("/static/"):]).resolve()
            if f.parent == PUBLIC and f.is_file():
                return self._send(200, f.read_bytes(), TYPES.get(f.suffix, "application/octet-stream"))
            return self._send(404, b"not found", "text/plain")
        if path == "/":
            self.send_response(302)
            self.send_header("Location", "/shop/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if path.startswith(SPA_PREFIXES):
            return self._send(200, (PUBLIC / "index.html").read_bytes(), TYPES[".html"])
        if path == "/favicon.ico":
            return self._send(204, b"", "text/plain")
        return self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._send(400, b'{"error": "bad json"}', "application/json")
        path = self.path.split("?", 1)[0]
        with self.server.lock:
            self.server.api_calls.append({"path": path, "body": body, "traceparent": self.headers.get("traceparent")})
            items = sum(1 for c in self.server.api_calls if c["path"] == "/api/cart")
        if path == "/api/cart":
            return self._send(200, json.dumps({"ok": True, "items": items}).encode(), "application/json")
        if path == "/api/pay":
            mode = body.get("mode") or self.server.payment
            if mode == "slow":
                time.sleep(self.server.slow_ms / 1000)
            if mode == "fail":
                return self._send(502, b'{"ok": false, "error": "payment provider unavailable"}', "application/json")
            return self._send(200, b'{"ok": true}', "application/json")
        return self._send(404, b'{"error": "not found"}', "application/json")

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--otlp", default="http://127.0.0.1:4318", help="collector OTLP/HTTP base URL the browser posts to")
    ap.add_argument("--sdk", choices=("otel", "faro", "none"), default="otel")
    ap.add_argument("--service-name")
    ap.add_argument("--payment", choices=("ok", "slow", "fail"), default="ok", help="default payment mode")
    ap.add_argument("--slow-ms", type=int, default=1200)
    ap.add_argument("--coupon-error", action="store_true", help="default of the coupon_error switch")
    ap.add_argument("--no-fake-link", action="store_true", help="make the gallery image a real link")
    args = ap.parse_args()
    srv = ShopServer(args.host, args.port, otlp=args.otlp, sdk=args.sdk, service_name=args.service_name,
                     payment=args.payment, slow_ms=args.slow_ms,
                     friction={"coupon_error": args.coupon_error, "fake_link": not args.no_fake_link})
    print(f"Mug Shop on {srv.url}/shop/ (sdk {args.sdk}, telemetry to {args.otlp})", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
