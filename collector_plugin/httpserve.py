"""What every HTTP listener of the service shares: TLS, bearer-token auth, and listening on a port."""

from __future__ import annotations

import hmac
import ssl

from aiohttp import web

from .config import Settings


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    s = settings.server
    if s.tls_cert_file is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(s.tls_cert_file, s.tls_key_file)
    return ctx


def authorized(settings: Settings, header: str | None) -> bool:
    token = settings.server.auth_token
    return token is None or hmac.compare_digest((header or "").encode(), f"Bearer {token}".encode())


async def serve_http(app: web.Application, hostport: str, settings: Settings) -> tuple[web.AppRunner, str]:
    """Listen on ``host:port`` (port 0: any free one); returns the runner and the address really listened on."""
    host, _, port = hostport.rpartition(":")
    # Compressed OTLP bodies are inflated with a size limit (gzip bombs, ingest/decode.py), not by aiohttp.
    runner = web.AppRunner(app, access_log=None, auto_decompress=False, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host.strip("[]"), int(port), ssl_context=ssl_context(settings))
    await site.start()
    sock = site._server.sockets[0].getsockname()  # the real port when 0 was asked for
    return runner, f"{host}:{sock[1]}"
