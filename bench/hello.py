"""Bare hello-world apps for comparing ASGI servers: raw ASGI and minimal Litestar."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, get

BODY = b'{"status":"ok"}'


async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


litestar_app = Litestar([healthz], logging_config=None, openapi_config=None)
