"""The HTTP API and the web page: `create_app(translator, settings)` → a FastAPI app.

    POST /translate   {"text": "..."} or {"texts": [...]}, options beam, max_length_ratio, attention
    GET  /health      the worker thread is alive; queue length
    GET  /info        model, languages, architecture, engine, limits
    GET  /            the web page (static/index.html): translate and inspect attention
    GET  /docs        OpenAPI docs (FastAPI's)

Every error is JSON `{"error": "...", "detail": ...}`: 400 malformed JSON, 413 text too long
or too many texts, 422 wrong types or an option out of bounds, 500 the translator raised
(the server keeps serving), 503 queue full, 504 request timed out.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from yiyan import __version__
from yiyan.serve.batcher import Batcher, Options, QueueFull, ShuttingDown
from yiyan.serve.schemas import (
    Attention,
    ErrorBody,
    Health,
    Info,
    Limits,
    TranslateRequest,
    TranslateResponse,
    TranslationOut,
)
from yiyan.serve.settings import ServeSettings, TranslationLike, TranslatorLike

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
ATTENTION_UNAVAILABLE = (
    "attention is not available with the {engine} engine; translations are returned without it"
)


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail


def error_response(
    status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        ErrorBody(error=error, detail=detail).model_dump(), status_code=status, headers=headers
    )


# ---------------------------------------------------------------------- model description


def describe(translator: TranslatorLike, settings: ServeSettings) -> Info:
    """/info from whatever the translator exposes (config, run_dir, engine); missing parts are null."""
    config = getattr(translator, "config", None)
    path = getattr(translator, "run_dir", None) or getattr(translator, "model_dir", None)
    engine = str(getattr(translator, "engine", "pytorch"))
    data = getattr(config, "data", None)
    return Info(
        model=Path(path).name if path else type(translator).__name__,
        path=str(path) if path else None,
        src_lang=getattr(data, "src_lang", None),
        tgt_lang=getattr(data, "tgt_lang", None),
        architecture=getattr(getattr(config, "model", None), "type", None),
        engine=engine,
        attention=bool(getattr(translator, "supports_attention", engine != "ctranslate2")),
        default_beam=getattr(getattr(config, "decoding", None), "beam", None),
        version=__version__,
        limits=Limits(
            max_chars=settings.max_chars,
            max_texts=settings.max_texts,
            max_beam=settings.max_beam,
            max_length_ratio=settings.max_length_ratio,
            max_batch_size=settings.max_batch_size,
            max_wait_ms=settings.max_wait_ms,
            max_queue=settings.max_queue,
            request_timeout_s=settings.request_timeout_s,
        ),
    )


def reduce_attention(attention: np.ndarray, n_tgt: int, n_src: int) -> Attention:
    """[target, layers, heads, source] → the last layer's mean over heads, as a [T][S] list."""
    array = np.asarray(attention, dtype=np.float32)
    if array.ndim == 4:
        layer, matrix = array.shape[1] - 1, array[:, -1].mean(axis=1)
    elif array.ndim == 2:
        layer, matrix = 0, array
    else:
        raise ValueError(f"attention of shape {array.shape}; expected [target, layers, heads, source]")
    matrix = np.nan_to_num(matrix[:n_tgt, :n_src].astype(np.float64)).round(4)
    return Attention(weights=matrix.tolist(), layer=int(layer), heads="mean")


def to_output(result: TranslationLike, attention: bool) -> TranslationOut:
    weights = None
    if attention and result.attention is not None:
        weights = reduce_attention(result.attention, len(result.tgt_tokens), len(result.src_tokens))
    return TranslationOut(
        source=result.source,
        text=result.text,
        score=float(result.score) if math.isfinite(result.score) else None,
        src_tokens=list(result.src_tokens),
        tgt_tokens=list(result.tgt_tokens),
        attention=weights,
    )


def check_limits(request: TranslateRequest, settings: ServeSettings) -> None:
    texts = request.items
    if len(texts) > settings.max_texts:
        raise ApiError(
            413,
            f"too many texts: {len(texts)} > max_texts {settings.max_texts}",
            {"max_texts": settings.max_texts},
        )
    for i, text in enumerate(texts):
        if len(text) > settings.max_chars:
            raise ApiError(
                413,
                f"text {i} is too long: {len(text)} characters > max_chars {settings.max_chars}",
                {"index": i, "length": len(text), "max_chars": settings.max_chars},
            )
    if request.beam is not None and not 1 <= request.beam <= settings.max_beam:
        raise ApiError(
            422,
            f"beam must be between 1 and {settings.max_beam} (got {request.beam})",
            {"max_beam": settings.max_beam},
        )
    ratio = request.max_length_ratio
    if ratio is not None and not 0 < ratio <= settings.max_length_ratio:
        raise ApiError(
            422,
            f"max_length_ratio must be > 0 and <= {settings.max_length_ratio} (got {ratio})",
            {"max_length_ratio": settings.max_length_ratio},
        )


# ---------------------------------------------------------------------- body size guard

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Reject a request whose Content-Length exceeds `max_bytes` before reading it (413)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers") or []).get(b"content-length", b"0")
            if length.isdigit() and int(length) > self.max_bytes:
                response = error_response(
                    413, f"request body too large: {int(length)} bytes > {self.max_bytes}"
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# ---------------------------------------------------------------------- the app


def create_app(translator: TranslatorLike, settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    settings.validate()
    batcher = Batcher(
        translator,
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
        max_queue=settings.max_queue,
    )
    info = describe(translator, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await asyncio.to_thread(batcher.stop)

    app = FastAPI(
        title="yiyan (译言) translation server",
        version=__version__,
        description=f"{info.src_lang or '?'} → {info.tgt_lang or '?'} translation with {info.model} ({info.engine}).",
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    app.state.settings = settings
    app.add_middleware(BodyLimit, max_bytes=settings.max_texts * (settings.max_chars * 6 + 16) + 4096)
    _add_error_handlers(app)

    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody, "description": text}
        for code, text in {
            400: "malformed JSON",
            413: "a text is too long, or too many texts",
            422: "wrong types, or an option out of bounds",
            500: "the translator failed",
            503: "too many requests waiting",
            504: "request timed out",
        }.items()
    }

    @app.post("/translate", response_model=TranslateResponse, responses=errors)
    async def translate(request: TranslateRequest) -> TranslateResponse:
        """Translate one text or several; identical options from concurrent requests share a batch."""
        start = time.perf_counter()
        check_limits(request, settings)
        attention = request.attention and info.attention
        note = (
            ATTENTION_UNAVAILABLE.format(engine=info.engine)
            if request.attention and not info.attention
            else None
        )
        results = await _run(
            batcher, request.items, Options(request.beam, request.max_length_ratio, attention), settings
        )
        return TranslateResponse(
            translations=[to_output(r, attention) for r in results],
            beam=request.beam if request.beam is not None else info.default_beam,
            elapsed_ms=round((time.perf_counter() - start) * 1000, 2),
            note=note,
        )

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health() -> Any:
        body = Health(
            status="ok" if batcher.alive else "worker stopped",
            worker_alive=batcher.alive,
            queued=batcher.queued,
            batches=batcher.batches,
            sentences=batcher.sentences,
        )
        return body if batcher.alive else JSONResponse(body.model_dump(), status_code=503)

    @app.get("/info", response_model=Info)
    async def get_info() -> Info:
        return info

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


async def _run(
    batcher: Batcher, texts: list[str], options: Options, settings: ServeSettings
) -> list[TranslationLike]:
    try:
        future = batcher.submit(texts, options)
    except QueueFull as error:
        raise ApiError(503, "server busy: too many requests waiting, retry later", str(error)) from None
    except ShuttingDown as error:
        raise ApiError(503, str(error)) from None
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), settings.request_timeout_s)
    except asyncio.TimeoutError:
        future.cancel()
        raise ApiError(
            504,
            f"request timed out after {settings.request_timeout_s:g} s",
            {"request_timeout_s": settings.request_timeout_s},
        ) from None
    except ShuttingDown as error:
        raise ApiError(503, str(error)) from None
    except Exception as error:
        raise ApiError(500, "translation failed", f"{type(error).__name__}: {error}") from None


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.error, error.detail)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "loc": list(e.get("loc", ())),
                "msg": str(e.get("msg", "")).removeprefix("Value error, "),
                "type": str(e.get("type", "")),
            }
            for e in error.errors()
        ]
        if any(p["type"] == "json_invalid" for p in problems):
            return error_response(400, "malformed JSON body", problems)
        if problems and problems[0]["type"] == "missing" and problems[0]["loc"] == ["body"]:
            return error_response(
                422, 'missing JSON body: send {"text": "..."} or {"texts": [...]}', problems
            )
        first = problems[0] if problems else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"] if part != "body")
        return error_response(
            422, f"invalid request: {where + ': ' if where else ''}{first['msg']}", problems
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail), None, dict(error.headers or {}))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal server error", type(error).__name__)
