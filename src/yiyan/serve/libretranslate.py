"""The LibreTranslate API beside yiyan's own, so that existing clients work unchanged.

Self-hosted-MT clients (libretranslatepy, browser extensions, `.po` translators, CMS plugins)
speak LibreTranslate's API:

    POST /translate          q (string or list), source ("auto" or a code), target, format
                             ("text" | "html"), api_key, alternatives — as a form or as JSON
                             → {"translatedText": ...} (a list for a list), "detectedLanguage"
                             when source is "auto"
    GET  /languages          [{"code", "name", "targets"}]: the run's pair
    POST /detect             q → [{"language", "confidence"}] over the run's two languages
    GET  /frontend/settings  limits and languages, for clients that read them

`POST /translate` stays yiyan's: a body with `q` is a LibreTranslate request and gets a
LibreTranslate answer; a body with `text`/`texts` is yiyan's (serve/schemas.py). A
LibreTranslate `q` is a document (input_format "text": segmented, re-assembled; "html":
markup kept). Language codes match on their primary subtag (`zh-Hans`, `zh-CN` → zh); a pair
other than the run's is a 400 naming the pair served. `api_key` is accepted and ignored: the
server has no keys (it binds to 127.0.0.1 unless told otherwise). `alternatives` are not
produced: the answer carries empty lists.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from yiyan.html_text import HtmlText
from yiyan.serve.errors import ApiError
from yiyan.serve.languages import Guess, base_code, detect, name_of
from yiyan.serve.schemas import ErrorBody, Info
from yiyan.serve.settings import ServeSettings

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


# ---------------------------------------------------------------------- bodies


class LibreTranslateRequest(BaseModel):
    """LibreTranslate's /translate body (fields it has and yiyan does not use are ignored)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"q": "I love you.", "source": "en", "target": "zh", "format": "text"}]
        },
    )

    q: str | list[str] = Field(description="a text (a document: segmented into sentences) or a list of them")
    source: str = Field("auto", description="the source language code, or auto")
    target: str | None = Field(None, description="the target language code (default: the run's)")
    format: Literal["text", "html"] = Field("text", description="html: only text nodes are translated")
    api_key: str | None = Field(None, description="accepted and ignored (the server has no keys)")
    alternatives: int = Field(0, ge=0, le=10, description="accepted; answered with empty lists")

    @property
    def texts(self) -> list[str]:
        return [self.q] if isinstance(self.q, str) else list(self.q)


class DetectRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    q: str
    api_key: str | None = None


class Detection(BaseModel):
    language: str
    confidence: float = Field(description="0..100: share of the text's letters in the language's script")


class LibreTranslateResponse(BaseModel):
    translatedText: str | list[str]
    detectedLanguage: Detection | list[Detection] | None = None
    alternatives: list[str] | list[list[str]] | None = None


class Language(BaseModel):
    code: str
    name: str
    targets: list[str]


class FrontendSettings(BaseModel):
    apiKeys: bool
    keyRequired: bool
    charLimit: int
    frontendTimeout: int
    suggestions: bool
    filesTranslation: bool
    supportedFilesFormat: list[str]
    language: dict[str, dict[str, str]]


# ---------------------------------------------------------------------- reading a request


async def read_payload(request: Request) -> Any:
    """The body: a JSON value, or a form as a dict (a repeated field becomes a list); None if empty."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in FORM_TYPES:
        form = await request.form()
        payload: dict[str, Any] = {}
        for key in form:
            values = form.getlist(key)
            if any(isinstance(v, UploadFile) for v in values):
                raise ApiError(415, f"form field {key!r} is a file; send text")
            payload[key] = values[0] if len(values) == 1 else values
        return payload
    body = await request.body()
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as error:
        raise ApiError(400, "malformed JSON body", str(error)) from None


def is_libretranslate(payload: Any) -> bool:
    """A body with `q` (and neither `text` nor `texts`) is a LibreTranslate request."""
    if not isinstance(payload, dict) or "q" not in payload:
        return False
    if "text" in payload or "texts" in payload:
        raise ApiError(422, "give yiyan's 'text'/'texts' or LibreTranslate's 'q', not both", sorted(payload))
    return True


def parse_request(payload: dict[str, Any]) -> LibreTranslateRequest:
    try:
        request = LibreTranslateRequest.model_validate(payload)
    except ValidationError as error:
        raise _invalid(error) from None
    if not request.texts:
        raise ApiError(422, "invalid request: q: the list is empty")
    return request


def _invalid(error: ValidationError) -> ApiError:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return ApiError(422, f"invalid request: {where}: {first.get('msg', '')}", error.errors(include_url=False))


# ---------------------------------------------------------------------- languages


def check_pair(request: LibreTranslateRequest, info: Info) -> list[Guess] | None:
    """400 unless the request asks for the run's pair; with source "auto", the guess per text."""
    pair = f"{info.src_lang} → {info.tgt_lang}"
    auto = base_code(request.source) == "auto"
    if not auto and not _same(request.source, info.src_lang):
        raise ApiError(
            400, f"source language '{request.source}' is not supported: this server translates {pair}"
        )
    if request.target is not None and not _same(request.target, info.tgt_lang):
        raise ApiError(
            400, f"target language '{request.target}' is not supported: this server translates {pair}"
        )
    if not auto:
        return None
    # HTML is judged by its text nodes: tag and attribute names are Latin letters in any language
    plain = [
        " ".join(HtmlText.parse(text).texts) if request.format == "html" else text for text in request.texts
    ]
    guesses = [detect(text, _run_languages(info))[0] for text in plain]
    for i, guess in enumerate(guesses):
        if not _same(guess.language, info.src_lang):
            raise ApiError(
                400,
                f"text {i} looks like {name_of(guess.language)} ({guess.language}), "
                f"but this server translates {pair}",
                {"index": i, "detected": guess.language, "confidence": guess.confidence},
            )
    return guesses


def _same(code: str, expected: str | None) -> bool:
    return expected is None or base_code(code) == base_code(expected)


def _run_languages(info: Info) -> list[str]:
    return [code for code in (info.src_lang, info.tgt_lang) if code]


def translate_response(
    request: LibreTranslateRequest, translations: Sequence[str], guesses: list[Guess] | None
) -> dict[str, Any]:
    one = isinstance(request.q, str)
    body: dict[str, Any] = {"translatedText": translations[0] if one else list(translations)}
    if guesses is not None:
        detected = [Detection(language=g.language, confidence=g.confidence).model_dump() for g in guesses]
        body["detectedLanguage"] = detected[0] if one else detected
    if request.alternatives:
        body["alternatives"] = [] if one else [[] for _ in translations]
    return body


# ---------------------------------------------------------------------- routes


def add_routes(app: FastAPI, info: Info, settings: ServeSettings) -> None:
    """/languages, /detect and /frontend/settings (the LibreTranslate /translate is in app.py)."""
    languages = [
        # the target is listed too (clients fill both menus from this list), with no targets of its own
        Language(code=code, name=name_of(code), targets=[info.tgt_lang] if code == info.src_lang else [])
        for code in _run_languages(info)
        if info.tgt_lang
    ]
    errors: dict[int | str, dict[str, Any]] = {
        400: {"model": ErrorBody, "description": "malformed JSON"},
        422: {"model": ErrorBody, "description": "no q, or wrong types"},
    }

    @app.get("/languages", response_model=list[Language], operation_id="languages")
    @app.post("/languages", response_model=list[Language], operation_id="languages_post")
    async def get_languages() -> list[Language]:
        """LibreTranslate: the languages this server translates from, and into."""
        return languages

    @app.post("/detect", response_model=list[Detection], responses=errors)
    async def post_detect(request: Request) -> list[Detection]:
        """LibreTranslate: which of the run's languages `q` is in, judged by its script, best first."""
        payload = await read_payload(request)
        try:
            body = DetectRequest.model_validate(payload or {})
        except ValidationError as error:
            raise _invalid(error) from None
        return [
            Detection(language=g.language, confidence=g.confidence)
            for g in detect(body.q, _run_languages(info))
        ]

    @app.get("/frontend/settings", response_model=FrontendSettings)
    async def frontend_settings() -> FrontendSettings:
        """LibreTranslate: what its web frontend and some clients read before translating."""
        source, target = info.src_lang or "", info.tgt_lang or ""
        return FrontendSettings(
            apiKeys=False,
            keyRequired=False,
            charLimit=settings.max_chars,
            frontendTimeout=int(settings.request_timeout_s * 1000),
            suggestions=False,
            filesTranslation=False,
            supportedFilesFormat=[],
            language={
                "source": {"code": source, "name": name_of(source)},
                "target": {"code": target, "name": name_of(target)},
            },
        )
