"""HTTP API of `yiyan serve`, against the deterministic FakeTranslator (no model, no torch)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="yiyan[serve] (FastAPI) is not installed")

with warnings.catch_warnings():  # starlette warns that its TestClient will move to httpx2
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from serve_helpers import live_server
from yiyan.errors import YiyanError
from yiyan.serve import add_serve_arguments, bind_socket, settings_from_args
from yiyan.serve.app import body_limit, create_app, reduce_attention
from yiyan.serve.batcher import Batcher, Options
from yiyan.serve.fake import FakeTranslation, FakeTranslator
from yiyan.serve.settings import ServeSettings

SRC = Path(__file__).resolve().parents[1] / "src"


@contextmanager
def client(translator: FakeTranslator | None = None, **settings: Any) -> Iterator[TestClient]:
    app = create_app(translator or FakeTranslator(), ServeSettings(**settings))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


async def post_concurrently(
    translator: FakeTranslator, bodies: Sequence[dict[str, Any]], **settings: Any
) -> list[httpx.Response]:
    """Send all bodies at once through an in-process ASGI transport; the batcher is stopped after."""
    app = create_app(translator, ServeSettings(**settings))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            return await asyncio.gather(*(c.post("/translate", json=body) for body in bodies))
    finally:
        app.state.batcher.stop()


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str) and body["error"]
    return body["error"]


# ---------------------------------------------------------------------- POST /translate


def test_translate_one_text() -> None:
    with client() as c:
        response = c.post("/translate", json={"text": "I love you."})
    assert response.status_code == 200
    body = response.json()
    [t] = body["translations"]
    assert t["source"] == "I love you."
    assert t["text"] == "我爱你。"
    assert t["src_tokens"] == ["▁I", "▁love", "▁you", "▁.", "</s>"]
    assert t["tgt_tokens"] == ["我", "爱", "你", "。", "</s>"]
    assert t["attention"] is None
    assert body["beam"] == 5  # the model's default, from its config
    assert body["note"] is None
    assert body["elapsed_ms"] >= 0


class CuttingTranslator(FakeTranslator):
    """Reports every text longer than 20 characters as translated in 3 pieces, as the pipeline does
    with a sentence over decoding.max_input_tokens."""

    def translate_detailed(self, texts: Sequence[str], **options: Any) -> list[FakeTranslation]:
        results = super().translate_detailed(texts, **options)
        for text, result in zip(texts, results, strict=True):
            result.parts = 3 if len(text) > 20 else 1
        return results


def test_each_text_says_whether_it_was_cut_into_pieces() -> None:
    with client(CuttingTranslator()) as c:
        response = c.post("/translate", json={"texts": ["I love you.", "I like tea. " * 3]})
    assert response.status_code == 200
    assert [t["parts"] for t in response.json()["translations"]] == [1, 3]


def test_translate_several_texts_keeps_order_and_empty_text() -> None:
    texts = ["I like tea.", "", "Hello, teacher!", "good"]
    with client() as c:
        response = c.post("/translate", json={"texts": texts})
    assert response.status_code == 200
    out = response.json()["translations"]
    assert [t["source"] for t in out] == texts
    assert [t["text"] for t in out] == ["我喜欢茶。", "", "你好，老师！", "好"]


def test_options_reach_the_translator() -> None:
    fake = FakeTranslator()
    with client(fake) as c:
        response = c.post("/translate", json={"text": "I love you.", "beam": 2, "max_length_ratio": 2})
    assert response.status_code == 200
    assert response.json()["beam"] == 2
    assert fake.calls == [{"n": 1, "attention": False, "beam": 2, "max_length_ratio": 2.0}]


def test_attention_is_last_layer_mean_over_heads() -> None:
    fake = FakeTranslator(layers=3, heads=2)
    with client(fake) as c:
        response = c.post("/translate", json={"texts": ["I love you.", "we drink tea"], "attention": True})
    assert response.status_code == 200
    for t in response.json()["translations"]:
        attention = t["attention"]
        weights = np.array(attention["weights"])
        assert weights.shape == (len(t["tgt_tokens"]), len(t["src_tokens"]))
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-3)
        assert attention["layer"] == 2 and attention["heads"] == "mean"
        # each fake target word attends most to the source word it came from
        assert list(weights.argmax(axis=1)) == list(range(len(t["src_tokens"])))
    assert fake.calls[0]["attention"] is True


def test_reduce_attention_averages_heads_of_last_layer() -> None:
    array = np.zeros((2, 2, 2, 3), dtype=np.float32)
    array[:, 1, 0] = [[1, 0, 0], [0, 1, 0]]
    array[:, 1, 1] = [[0, 0, 1], [0, 1, 0]]
    array[:, 0] = 7  # layer 0 must be ignored
    reduced = reduce_attention(array, n_tgt=2, n_src=3)
    assert reduced.weights == [[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]]
    assert reduced.layer == 1


def test_engine_without_attention_returns_null_and_a_note() -> None:
    fake = FakeTranslator()
    fake.engine = "ctranslate2"
    with client(fake) as c:
        response = c.post("/translate", json={"text": "I love you.", "attention": True})
        info = c.get("/info").json()
    assert response.status_code == 200
    body = response.json()
    assert body["translations"][0]["attention"] is None
    assert "ctranslate2" in body["note"]
    assert fake.calls[0]["attention"] is False
    assert info["engine"] == "ctranslate2" and info["attention"] is False


# ---------------------------------------------------------------------- GET endpoints


def test_health() -> None:
    with client() as c:
        c.post("/translate", json={"text": "hello"})
        body = c.get("/health").json()
    assert body["status"] == "ok" and body["worker_alive"] is True
    assert body["batches"] == 1 and body["sentences"] == 1 and body["queued"] == 0


def test_info() -> None:
    with client(max_beam=6, max_chars=123) as c:
        info = c.get("/info").json()
    assert info["src_lang"] == "en" and info["tgt_lang"] == "zh"
    assert info["engine"] == "fake" and info["architecture"] == "fake" and info["attention"] is True
    assert info["default_beam"] == 5
    assert info["limits"]["max_beam"] == 6 and info["limits"]["max_chars"] == 123
    assert {"model", "path", "version", "limits"} <= set(info)


def test_openapi_schema_and_docs() -> None:
    with client() as c:
        schema = c.get("/openapi.json").json()
        docs = c.get("/docs")
        docs_js = c.get("/static/docs.js")
        redoc = c.get("/redoc")
    # /docs is the page shipped in static/, rendering /openapi.json: nothing from a CDN
    assert docs.status_code == 200 and "/openapi.json" in docs.text and "/static/docs.js" in docs.text
    assert "http://" not in docs.text and "https://" not in docs.text
    assert docs_js.status_code == 200 and 'fetch("/openapi.json")' in docs_js.text
    assert "http" not in docs_js.text.replace('"/openapi.json"', "")
    assert redoc.status_code == 404
    components = schema["components"]["schemas"]
    request = components["TranslateRequest"]["properties"]
    assert {"text", "texts", "beam", "max_length_ratio", "attention", "input_format"} <= set(request)
    assert {"q", "source", "target", "format", "api_key"} <= set(
        components["LibreTranslateRequest"]["properties"]
    )
    translate = schema["paths"]["/translate"]["post"]
    bodies = translate["requestBody"]["content"]
    assert bodies["application/json"]["schema"]["oneOf"] == [
        {"$ref": "#/components/schemas/TranslateRequest"},
        {"$ref": "#/components/schemas/LibreTranslateRequest"},
    ]
    assert "application/x-www-form-urlencoded" in bodies
    assert {"200", "400", "413", "422", "500", "503", "504"} <= set(translate["responses"])
    assert {"TranslateResponse", "LibreTranslateResponse", "DocumentOut"} <= set(components)
    assert {"/health", "/info", "/languages", "/detect", "/frontend/settings"} <= set(schema["paths"])
    refs = re.findall(r'"\$ref": "#/components/schemas/(\w+)"', json.dumps(schema))
    assert set(refs) <= set(components)  # every reference resolves


def test_web_page_and_static_files() -> None:
    with client() as c:
        page = c.get("/")
        js = c.get("/static/app.js")
        css = c.get("/static/style.css")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for element_id in ("source", "translate", "translation", "beam", "heatmap", "src-tokens", "tgt-tokens"):
        assert f'id="{element_id}"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
    assert js.status_code == 200 and "/translate" in js.text
    assert css.status_code == 200 and "Noto Sans CJK SC" in css.text


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b'{"text": ', 400, "malformed JSON"),
        (b"", 422, "missing JSON body"),
        (b"[1, 2]", 422, "valid dictionary"),
        (b'{"text": 5}', 422, "text"),
        (b'{"texts": "one"}', 422, "texts"),
        (b'{"texts": ["a", 3]}', 422, "texts"),
        (b'{"text": "a", "beam": "5"}', 422, "beam"),
        (b'{"text": "a", "beam": 2.5}', 422, "beam"),
        (b'{"text": "a", "attention": "yes"}', 422, "attention"),
        (b'{"text": "a", "colour": "red"}', 422, "colour"),
        (b"{}", 422, "exactly one of"),
        (b'{"text": "a", "texts": ["b"]}', 422, "exactly one of"),
        (b'{"texts": []}', 422, "empty"),
        (b'{"text": "a", "beam": 0}', 422, "beam must be between 1 and 8"),
        (b'{"text": "a", "beam": 9}', 422, "beam must be between 1 and 8"),
        (b'{"text": "a", "max_length_ratio": 0}', 422, "max_length_ratio"),
        (b'{"text": "a", "max_length_ratio": 100}', 422, "max_length_ratio"),
    ],
)
def test_bad_requests_get_json_errors(body: bytes, status: int, message: str) -> None:
    fake = FakeTranslator()
    with client(fake) as c:
        response = c.post("/translate", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert message in error_of(response)
    assert fake.calls == []


def test_text_too_long() -> None:
    with client(max_chars=10) as c:
        ok = c.post("/translate", json={"text": "x" * 10})
        response = c.post("/translate", json={"texts": ["short", "x" * 11]})
    assert ok.status_code == 200
    assert response.status_code == 413
    assert "text 1 is too long" in error_of(response)
    assert response.json()["detail"] == {"index": 1, "length": 11, "max_chars": 10}


def test_too_many_texts() -> None:
    with client(max_texts=3) as c:
        response = c.post("/translate", json={"texts": ["a", "b", "c", "d"]})
    assert response.status_code == 413
    assert "too many texts" in error_of(response)


def test_body_too_large_is_rejected_before_parsing() -> None:
    with client(max_texts=1, max_chars=10) as c:
        response = c.post(
            "/translate",
            content=b'{"text": "' + b"x" * 10_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert "too large" in error_of(response)


def read_http_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP/1.1 response with a Content-Length body from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before the response headers: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the end of the response body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def test_chunked_body_over_the_limit_is_refused_without_reading_the_rest() -> None:
    """Transfer-Encoding: chunked, no Content-Length: the server answers 413 as soon as the bytes
    received pass the limit, while the client has not finished the body (and never does: a server
    that waited for the end would never answer, and the socket's timeout would fail the test)."""
    fake = FakeTranslator()
    settings = ServeSettings(max_texts=1, max_chars=10)
    limit = body_limit(settings)
    with live_server(create_app(fake, settings)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                b"POST /translate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"x" * 1000
            sent = 0
            sock.sendall(b'a\r\n{"text": "\r\n')
            while sent <= limit:  # just past the limit; the terminating 0-chunk is never sent
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            status, headers, body = read_http_response(sock)
    assert status == 413
    assert "content-length" in headers and "transfer-encoding" not in headers
    error = json.loads(body)["error"]
    assert error.startswith(f"request body too large: more than {limit} bytes"), error
    assert fake.calls == []


def test_chunked_body_under_the_limit_is_translated() -> None:
    def chunks() -> Iterator[bytes]:  # a generator body: httpx sends it chunked, without a length
        yield b'{"text": "I love'
        yield b' you."}'

    with live_server(create_app(FakeTranslator(), ServeSettings())) as url:
        response = httpx.post(
            f"{url}/translate", content=chunks(), headers={"Content-Type": "application/json"}, timeout=30
        )
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 200 and response.json()["translations"][0]["text"] == "我爱你。"


def test_body_limit_counts_the_body_not_the_header() -> None:
    """A client that lies with a small Content-Length and streams more is cut off too (in-process)."""
    fake = FakeTranslator()
    app = create_app(fake, ServeSettings(max_texts=1, max_chars=10))
    limit = body_limit(app.state.settings)
    messages = [{"type": "http.request", "body": b"x" * 1000, "more_body": True}] * (limit // 1000 + 2)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/translate",
        "raw_path": b"/translate",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"10")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert len(messages) == 1  # it stopped reading right after the message that passed the limit
    assert fake.calls == []


def test_unknown_path_and_wrong_method_are_json() -> None:
    with client() as c:
        missing = c.get("/nope")
        wrong = c.get("/translate")
    assert missing.status_code == 404 and error_of(missing) == "Not Found"
    assert wrong.status_code == 405 and error_of(wrong) == "Method Not Allowed"


def test_translator_failure_is_500_and_server_keeps_serving() -> None:
    fake = FakeTranslator(fail_times=1)
    with client(fake) as c:
        failed = c.post("/translate", json={"text": "I love you."})
        ok = c.post("/translate", json={"text": "I love you."})
        health = c.get("/health")
    assert failed.status_code == 500
    assert error_of(failed) == "translation failed"
    assert "simulated translator failure" in failed.json()["detail"]
    assert ok.status_code == 200 and ok.json()["translations"][0]["text"] == "我爱你。"
    assert health.status_code == 200


class PoisonTranslator(FakeTranslator):
    """Fails any batch that contains the word 'poison'."""

    def translate_detailed(
        self, texts: Sequence[str], *, attention: bool = False, **options: float | int | None
    ) -> list[FakeTranslation]:
        if any("poison" in t for t in texts):
            raise ValueError("cannot translate poison")
        return super().translate_detailed(texts, attention=attention, **options)


def test_one_bad_input_fails_only_its_own_request() -> None:
    fake = PoisonTranslator(call_cost_s=0.01)
    bodies = [{"text": f"good {i}"} for i in range(6)] + [{"text": "poison"}]
    responses = asyncio.run(post_concurrently(fake, bodies, max_wait_ms=100))
    assert [r.status_code for r in responses] == [200] * 6 + [500]
    assert "cannot translate poison" in responses[-1].json()["detail"]


class GatedTranslator(FakeTranslator):
    """Blocks in translate_detailed until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def translate_detailed(
        self, texts: Sequence[str], *, attention: bool = False, **options: float | int | None
    ) -> list[FakeTranslation]:
        results = super().translate_detailed(texts, attention=attention, **options)
        self.gate.wait(10)
        return results


async def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def test_full_queue_is_503() -> None:
    fake = GatedTranslator()
    app = create_app(fake, ServeSettings(max_batch_size=1, max_wait_ms=0, max_queue=1))
    batcher = app.state.batcher

    async def scenario() -> tuple[list[httpx.Response], httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            running = asyncio.create_task(c.post("/translate", json={"text": "one"}))
            await wait_until(lambda: len(fake.calls) == 1)  # the worker is busy with "one"
            queued = asyncio.create_task(c.post("/translate", json={"text": "two"}))
            await wait_until(lambda: batcher.queued == 1)
            rejected = await c.post("/translate", json={"text": "three"})
            fake.gate.set()
            return [await running, await queued], rejected

    try:
        served, rejected = asyncio.run(scenario())
    finally:
        batcher.stop()
    assert rejected.status_code == 503 and "busy" in error_of(rejected)
    assert [r.status_code for r in served] == [200, 200]


def test_request_timeout_is_504_and_cancelled_work_is_skipped() -> None:
    fake = GatedTranslator()
    app = create_app(fake, ServeSettings(max_batch_size=1, max_wait_ms=0, request_timeout_s=0.4))
    batcher = app.state.batcher

    async def scenario() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            first = asyncio.create_task(c.post("/translate", json={"text": "slow"}))
            await wait_until(lambda: len(fake.calls) == 1)
            second = await c.post("/translate", json={"text": "queued behind it"})  # times out in the queue
            responses = [await first, second]
            fake.gate.set()
            await wait_until(lambda: batcher.queued == 0 and batcher.batches == 1)
            responses.append(await c.post("/translate", json={"text": "after"}))
            return responses

    try:
        first, second, after = asyncio.run(scenario())
    finally:
        batcher.stop()
    for response in (first, second):
        assert response.status_code == 504 and "timed out" in error_of(response)
    assert after.status_code == 200
    assert [call["n"] for call in fake.calls] == [1, 1]  # "queued behind it" was never translated


# ---------------------------------------------------------------------- dynamic batching


def test_concurrent_requests_are_batched() -> None:
    fake = FakeTranslator(call_cost_s=0.005)
    bodies = [{"text": f"I love you {i}"} for i in range(16)]
    responses = asyncio.run(post_concurrently(fake, bodies, max_batch_size=32, max_wait_ms=50))
    assert all(r.status_code == 200 for r in responses)
    for i, response in enumerate(responses):  # every request gets its own translation back
        [t] = response.json()["translations"]
        assert t["source"] == f"I love you {i}" and t["text"] == "我爱你" + str(i)[::-1]
    assert max(fake.batch_sizes) > 1
    assert sum(fake.batch_sizes) == 16 and len(fake.batch_sizes) < 16


def test_batches_respect_max_batch_size_and_multi_text_requests() -> None:
    fake = FakeTranslator()
    bodies = [{"texts": [f"a{i}", f"b{i}", f"c{i}"]} for i in range(8)]
    responses = asyncio.run(post_concurrently(fake, bodies, max_batch_size=7, max_wait_ms=50))
    assert all(r.status_code == 200 for r in responses)
    for i, response in enumerate(responses):
        assert [t["source"] for t in response.json()["translations"]] == [f"a{i}", f"b{i}", f"c{i}"]
    assert max(fake.batch_sizes) <= 7 and sum(fake.batch_sizes) == 24


def test_no_batching_translates_one_request_at_a_time() -> None:
    fake = FakeTranslator()
    bodies = [{"text": f"hello {i}"} for i in range(8)]
    responses = asyncio.run(post_concurrently(fake, bodies, max_batch_size=1, max_wait_ms=0))
    assert all(r.status_code == 200 for r in responses)
    assert fake.batch_sizes == [1] * 8


def test_requests_with_different_options_are_not_mixed() -> None:
    fake = FakeTranslator(call_cost_s=0.005)
    bodies = [{"text": f"s{i}", "beam": 1 + i % 2, "attention": i % 4 == 0} for i in range(12)]
    responses = asyncio.run(post_concurrently(fake, bodies, max_wait_ms=50))
    assert all(r.status_code == 200 for r in responses)
    for i, response in enumerate(responses):
        assert response.json()["beam"] == 1 + i % 2
        assert (response.json()["translations"][0]["attention"] is not None) == (i % 4 == 0)
    assert {(c["beam"], c["attention"]) for c in fake.calls} == {(1, True), (1, False), (2, False)}
    assert sum(c["n"] for c in fake.calls) == 12 and len(fake.calls) < 12


def test_batcher_groups_only_compatible_jobs_in_arrival_order() -> None:
    fake = FakeTranslator()
    batcher = Batcher(fake, max_batch_size=4, max_wait_ms=300)  # "a" waits 300 ms for the others
    futures = [
        batcher.submit(["a"], Options(beam=1)),
        batcher.submit(["b"], Options(beam=2)),
        batcher.submit(["c", "d"], Options(beam=1)),
        batcher.submit(["e", "f"], Options(beam=1)),  # would exceed 4 sentences
    ]
    try:
        results = [f.result(timeout=5) for f in futures]
    finally:
        batcher.stop()
    assert [[r.source for r in result] for result in results] == [["a"], ["b"], ["c", "d"], ["e", "f"]]
    assert [(c["beam"], c["n"]) for c in fake.calls] == [(1, 3), (2, 1), (1, 2)]


# ---------------------------------------------------------------------- settings and serve_command


def test_settings_validation() -> None:
    ServeSettings().validate()
    for bad in (
        {"max_batch_size": 0},
        {"max_beam": 0},
        {"max_wait_ms": -1},
        {"port": 70000},
        {"request_timeout_s": 0},
    ):
        with pytest.raises(YiyanError):
            ServeSettings(**bad).validate()
    assert ServeSettings().is_loopback and not ServeSettings(host="0.0.0.0").is_loopback


def test_arguments_to_settings() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    default = settings_from_args(parser.parse_args([]))
    assert default.host == "127.0.0.1" and default.port == 8000 and default == ServeSettings()
    custom = settings_from_args(
        parser.parse_args(["--port", "9000", "--no-batching", "--max-beam", "4", "--request-timeout", "5"])
    )
    assert (custom.port, custom.max_batch_size, custom.max_beam, custom.request_timeout_s) == (
        9000,
        1,
        4,
        5.0,
    )
    with pytest.raises(YiyanError, match="max-chars"):
        settings_from_args(parser.parse_args(["--max-chars", "0"]))


def test_taken_port_is_a_clear_error() -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        with pytest.raises(YiyanError, match=r"cannot listen on 127\.0\.0\.1"):
            bind_socket("127.0.0.1", sock.getsockname()[1])
    finally:
        sock.close()


def test_serve_command_runs_uvicorn_on_localhost() -> None:
    """`python -m yiyan.serve --fake --port 0`: serve_command binds 127.0.0.1 and answers over HTTP."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "yiyan.serve",
            "--fake",
            "--port",
            "0",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    watchdog = threading.Timer(60, process.kill)  # never hang the test run
    watchdog.start()
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        url = f"http://127.0.0.1:{match.group(1)}"
        response = httpx.post(f"{url}/translate", json={"text": "I love you."}, timeout=10)
        assert response.status_code == 200 and response.json()["translations"][0]["text"] == "我爱你。"
        assert httpx.get(f"{url}/health", timeout=10).json()["status"] == "ok"
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl+C: graceful shutdown, exit status 0
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        watchdog.cancel()
    assert process.returncode == 0


def test_error_body_is_plain_json() -> None:
    with client() as c:
        response = c.post("/translate", json={"text": "a", "beam": 99})
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.text) == {
        "error": "beam must be between 1 and 8 (got 99)",
        "detail": {"max_beam": 8},
    }


class InfiniteScoreTranslator(FakeTranslator):
    def translate_detailed(
        self, texts: Sequence[str], *, attention: bool = False, **options: float | int | None
    ) -> list[FakeTranslation]:
        results = super().translate_detailed(texts, attention=attention, **options)
        for result in results:
            result.score = float("-inf")
        return results


def test_non_finite_score_is_null_not_a_crash() -> None:
    with client(InfiniteScoreTranslator()) as c:
        response = c.post("/translate", json={"text": "I love you."})
    assert response.status_code == 200 and response.json()["translations"][0]["score"] is None
