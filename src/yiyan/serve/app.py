"""The HTTP API and the web page: `create_app(translator, settings)` → a FastAPI app.

    POST /translate   {"text": "..."} or {"texts": [...]}, options beam, max_length_ratio, attention,
                      input_format (lines | text | html); or LibreTranslate's {"q": ...} (form or JSON)
    GET  /health      the worker thread is alive; queue length
    GET  /info        model, languages, architecture, engine, limits
    GET  /            the web page (static/index.html): translate and inspect attention
    GET  /docs        the API reference, rendered offline from /openapi.json (static/docs.html)
    /languages, /detect, /frontend/settings: LibreTranslate's (serve/libretranslate.py)

Every error is JSON `{"error": "...", "detail": ...}`: 400 malformed JSON, 413 body, text too
long or too many texts, 422 wrong types or an option out of bounds, 500 the translator raised
(the server keeps serving), 503 queue full, 504 request timed out.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from yiyan import __version__
from yiyan.errors import YiyanError
from yiyan.serve import libretranslate
from yiyan.serve.batcher import Batcher, Options, QueueFull, Result, ShuttingDown
from yiyan.serve.body_limit import BodyLimit
from yiyan.serve.documents import (
    NO_SEGMENTATION,
    Document,
    HtmlBatch,
    InputFormat,
    as_documents,
    segments_documents,
)
from yiyan.serve.errors import ApiError, error_response
from yiyan.serve.schemas import (
    Attention,
    DocumentOut,
    ErrorBody,
    Health,
    Info,
    Limits,
    TranslateRequest,
    TranslateResponse,
    TranslationOut,
)
from yiyan.serve.settings import DocumentLike, ServeSettings, TranslationLike, TranslatorLike

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
ATTENTION_UNAVAILABLE = (
    "attention is not available with the {engine} engine; translations are returned without it"
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
        documents=segments_documents(translator),
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
        parts=result.parts,
        attention=weights,
    )


def to_document(document: Document, attention: bool) -> DocumentOut:
    return DocumentOut(
        source=document.source,
        text=document.text,
        split=document.split,
        sentences=[to_output(sentence, attention) for sentence in document.sentences],
    )


def check_limits(
    texts: Sequence[str], beam: int | None, ratio: float | None, settings: ServeSettings
) -> None:
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
    if beam is not None and not 1 <= beam <= settings.max_beam:
        raise ApiError(
            422,
            f"beam must be between 1 and {settings.max_beam} (got {beam})",
            {"max_beam": settings.max_beam},
        )
    if ratio is not None and not 0 < ratio <= settings.max_length_ratio:
        raise ApiError(
            422,
            f"max_length_ratio must be > 0 and <= {settings.max_length_ratio} (got {ratio})",
            {"max_length_ratio": settings.max_length_ratio},
        )


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
        docs_url=None,  # FastAPI's Swagger UI and ReDoc load from a CDN; /docs is served offline below
        redoc_url=None,
    )
    app.state.batcher = batcher
    app.state.settings = settings
    app.add_middleware(
        BodyLimit,
        max_bytes=body_limit(settings),
        respond=lambda status, message: error_response(status, message),
    )
    _add_error_handlers(app)
    _document_translate_bodies(app)

    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody, "description": text}
        for code, text in {
            400: "malformed JSON; LibreTranslate: a language pair other than the run's",
            413: "the body, a text is too long, or too many texts",
            415: "a form field is a file",
            422: "wrong types, or an option out of bounds",
            500: "the translator failed",
            503: "too many requests waiting",
            504: "request timed out",
        }.items()
    }
    errors[200] = {
        "content": {
            "application/json": {
                "schema": {"oneOf": [_ref(TranslateResponse), _ref(libretranslate.LibreTranslateResponse)]}
            }
        }
    }

    async def translate_documents(
        sources: list[str], input_format: InputFormat, options: Options
    ) -> list[Document]:
        """Texts (input_format text) or HTML (html) as documents, through the batcher."""
        options = replace(options, document=True)
        if input_format == "html":
            batch = HtmlBatch(sources)
            nodes = await _run(batcher, batch.nodes, options, settings) if batch.nodes else []
            return batch.assemble(cast(list[DocumentLike], nodes))
        results = await _run(batcher, sources, options, settings)
        return as_documents(sources, cast(list[DocumentLike], results))

    @app.post("/translate", response_model=None, responses=errors, openapi_extra=TRANSLATE_BODY)
    async def translate(request: Request) -> JSONResponse:
        """Translate one text or several; identical options from concurrent requests share a batch.

        yiyan's body (`text`/`texts`) gets yiyan's answer; LibreTranslate's (`q`, as a form or
        JSON) gets LibreTranslate's."""
        start = time.perf_counter()
        payload = await libretranslate.read_payload(request)
        if libretranslate.is_libretranslate(payload):
            lt = libretranslate.parse_request(payload)
            check_limits(lt.texts, None, None, settings)
            guesses = libretranslate.check_pair(lt, info)
            documents = await translate_documents(lt.texts, lt.format, Options())
            return JSONResponse(libretranslate.translate_response(lt, [d.text for d in documents], guesses))
        body = _parse_yiyan_request(payload)
        check_limits(body.items, body.beam, body.max_length_ratio, settings)
        attention = body.attention and info.attention
        notes = []
        if body.attention and not info.attention:
            notes.append(ATTENTION_UNAVAILABLE.format(engine=info.engine))
        glossary = tuple((source, target) for source, target in body.glossary) if body.glossary else None
        options = Options(body.beam, body.max_length_ratio, attention, glossary=glossary)
        translations: list[TranslationOut] | list[DocumentOut]
        if body.input_format == "lines":
            results = await _run(batcher, body.items, options, settings)
            translations = [to_output(cast(TranslationLike, r), attention) for r in results]
        else:
            if not info.documents:
                notes.append(NO_SEGMENTATION)
            documents = await translate_documents(body.items, body.input_format, options)
            translations = [to_document(d, attention) for d in documents]
        response = TranslateResponse(
            input_format=body.input_format,
            translations=translations,
            beam=body.beam if body.beam is not None else info.default_beam,
            elapsed_ms=round((time.perf_counter() - start) * 1000, 2),
            note="; ".join(notes) or None,
        )
        return JSONResponse(response.model_dump())

    libretranslate.add_routes(app, info, settings)

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

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(STATIC_DIR / "docs.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def body_limit(settings: ServeSettings) -> int:
    """Bytes a /translate body may have: every text at its longest, each character at its
    longest encoding (a form's %XX%XX%XX for a CJK character: 9 bytes), plus the options."""
    return settings.max_texts * (settings.max_chars * 9 + 16) + 4096


def _parse_yiyan_request(payload: Any) -> TranslateRequest:
    if payload is None:
        raise ApiError(422, 'missing JSON body: send {"text": "..."} or {"texts": [...]}')
    try:
        return TranslateRequest.model_validate(payload)
    except ValidationError as error:
        raise RequestValidationError(error.errors()) from None


# /translate reads its body itself (JSON or a form, two shapes), so its OpenAPI entry is given here.
def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


TRANSLATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [_ref(TranslateRequest), _ref(libretranslate.LibreTranslateRequest)]}
            },
            "application/x-www-form-urlencoded": {"schema": _ref(libretranslate.LibreTranslateRequest)},
        },
    }
}


def _document_translate_bodies(app: FastAPI) -> None:
    """Add the /translate bodies, which no route signature declares, to the OpenAPI components."""
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (TranslateRequest, "validation"),
        (libretranslate.LibreTranslateRequest, "validation"),
        (TranslateResponse, "serialization"),
        (libretranslate.LibreTranslateResponse, "serialization"),
    ]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model, mode in models:
                model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
                for name, definition in model_schema.pop("$defs", {}).items():
                    components.setdefault(name, definition)
                components.setdefault(model.__name__, model_schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _run(batcher: Batcher, texts: list[str], options: Options, settings: ServeSettings) -> list[Result]:
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
    except YiyanError as error:  # options the request may not combine (a glossary term too long, …)
        raise ApiError(422, str(error)) from None
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
