"""A request-body size limit that holds however the body is sent (pure ASGI middleware).

Checking the Content-Length header is not enough: a client can send `Transfer-Encoding:
chunked` and no length at all, and the app would then read (and JSON-parse) a body of any
size. So the middleware also counts the bytes of every `http.request` message the app
receives, and the moment the running total passes the limit it stops reading and answers
413 — the rest of the body is never read. A request that declares a too-large
Content-Length is refused before a single body byte is read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Responder = Callable[[int, str], ASGIApp]  # (status, message) → a response to send


class BodyTooLarge(HTTPException):
    """Raised from `receive` past the limit. An HTTPException, so that FastAPI's own body
    parsing passes it on unchanged and the app's HTTP error handler answers 413."""

    def __init__(self, received: int, max_bytes: int) -> None:
        super().__init__(413, f"request body too large: more than {max_bytes} bytes (read {received})")


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413, for Content-Length and chunked bodies."""

    def __init__(self, app: ASGIApp, max_bytes: int, respond: Responder) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await self.respond(413, f"request body too large: {int(length)} bytes > {self.max_bytes}")(
                scope, receive, send
            )
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(received, self.max_bytes)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as error:
            # Normally the app's HTTPException handler has already answered; this catches a
            # body read outside a route (e.g. by another middleware).
            if response_started:
                raise
            await self.respond(413, str(error.detail))(scope, receive, send)
