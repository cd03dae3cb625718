"""The web page in a real headless Chromium (Playwright), against a real uvicorn server.

Needs the Debian `chromium` package (/usr/bin/chromium, or set YIYAN_CHROMIUM) and the
`playwright` Python package — no `playwright install`: the system browser is used.
Skipped, with the reason, where either is missing.

The server runs a real model: a tiny Transformer trained in seconds to memorise a dozen phrases
("I love you." → "我爱你。"); set YIYAN_TEST_RUN_DIR to drive another trained run, or
YIYAN_TEST_FAKE=1 for the FakeTranslator (then the fake-specific checks run too).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serve_helpers import live_server
from yiyan.serve import create_app
from yiyan.serve.fake import FakeTranslator
from yiyan.serve.settings import ServeSettings, TranslatorLike

pytest.importorskip("fastapi", reason="yiyan[serve] (FastAPI) is not installed")
uvicorn = pytest.importorskip("uvicorn", reason="yiyan[serve] (uvicorn) is not installed")
pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("YIYAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUN_DIR = os.environ.get("YIYAN_TEST_RUN_DIR")
FAKE = os.environ.get("YIYAN_TEST_FAKE") == "1"

try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]


def make_translator(directory: Path) -> TranslatorLike:
    if FAKE:
        return FakeTranslator()
    from run_helpers import overfit_run
    from yiyan.translator import Translator

    return Translator.load(RUN_DIR or overfit_run(directory), device="cpu")


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real uvicorn server on 127.0.0.1, on a free port, in a thread."""
    if sync_playwright is None or not Path(CHROMIUM).exists():
        pytest.skip("no browser: see the `page` fixture")
    translator = make_translator(tmp_path_factory.mktemp("browser-run"))
    with live_server(create_app(translator, ServeSettings(max_chars=200))) as url:
        yield url


@pytest.fixture(scope="module")
def page(server_url: str) -> Iterator[Page]:
    if sync_playwright is None:
        pytest.skip("playwright is not importable: pip install playwright (no `playwright install` needed)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set YIYAN_CHROMIUM)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


def test_translate_and_inspect_attention(page: Page, server_url: str, tmp_path_factory: Any) -> None:
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and page_errors.append(message.text))

    page.goto(server_url + "/")
    page.wait_for_function("document.querySelector('#model-info').textContent.includes('→')")
    assert page.locator("#beam option").count() >= 1

    page.fill("#source", "I love you.")
    page.click("#translate")
    page.wait_for_function("document.querySelector('#translation').textContent.trim().length > 0")
    page.wait_for_selector("#heatmap td.cell")
    translation = page.inner_text("#translation").strip()
    assert re.search(r"[\u4e00-\u9fff]", translation), translation  # a Chinese translation
    if not RUN_DIR:  # the memorised phrase (or the fake's glossary)
        assert translation == "我爱你。"

    n_src = page.locator("#src-tokens .src-token").count()
    n_tgt = page.locator("#tgt-tokens .tgt-token").count()
    assert n_src > 0 and n_tgt > 0
    assert page.locator("#heatmap td.cell").count() == n_src * n_tgt
    colours = page.eval_on_selector_all(
        "#heatmap td.cell", "cells => cells.map(c => getComputedStyle(c).backgroundColor)"
    )
    assert len(set(colours)) > 1  # weights drawn as colours, not all blank

    page.hover('#tgt-tokens .tgt-token[data-t="1"]')
    assert "active" in (page.get_attribute('#tgt-tokens .tgt-token[data-t="1"]', "class") or "")
    assert page.locator("#src-tokens .src-token.attended").count() >= 1
    assert page.locator("#heatmap tbody tr.active").count() == 1
    assert "attends most to" in page.inner_text("#hover-info")
    if FAKE:  # the fake's target word 1 (爱) comes from source word 1 (love)
        assert page.get_attribute("#src-tokens .src-token.strongest", "data-s") == "1"
        assert page.inner_text("#src-tokens .src-token.strongest") == "love"

    screenshot = tmp_path_factory.mktemp("serve") / "page.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot: {screenshot}")

    page.mouse.move(0, 0)
    assert page.locator("#src-tokens .src-token.attended").count() == 0
    assert page_errors == []


def test_errors_are_shown_on_the_page(page: Page, server_url: str) -> None:
    page.goto(server_url + "/")
    page.fill("#source", "x" * 250)  # over max_chars (200)
    page.click("#translate")
    page.wait_for_selector("#status.error")
    assert "413" in page.inner_text("#status") and "too long" in page.inner_text("#status")
    page.fill("#source", "   ")
    page.click("#translate")
    page.wait_for_function("document.querySelector('#status').textContent.includes('Type something')")


@pytest.fixture(scope="module")
def fake_server_url() -> Iterator[str]:
    """The FakeTranslator, which segments documents (its translate_document follows the contract of
    Translator.translate_document), behind a second live server."""
    with live_server(create_app(FakeTranslator(), ServeSettings())) as url:
        yield url


def test_a_pasted_paragraph_keeps_attention_per_sentence(page: Page, fake_server_url: str) -> None:
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.goto(fake_server_url + "/")
    page.wait_for_function("document.querySelector('#model-info').textContent.includes('→')")
    page.fill("#source", "I love you. I like tea!\n\nHello, teacher.")
    page.click("#translate")
    page.wait_for_selector("#translation p.document")
    page.wait_for_selector("#heatmap td.cell")
    # the document as re-assembled by the server: its blank line kept
    assert page.inner_text("#translation p.document") == "我爱你。我喜欢茶！\n\n你好，老师。"
    assert "3 sentences" in page.inner_text("#status")
    assert page.locator("#translation ol.sentences li").all_inner_texts() == [
        "我爱你。",
        "我喜欢茶！",
        "你好，老师。",
    ]
    assert page.is_visible("#sentence") and page.locator("#sentence option").count() == 3

    def source_tokens() -> list[str]:
        return page.locator("#src-tokens .src-token").all_inner_texts()

    assert source_tokens() == ["I", "love", "you", ".", "</s>"]
    assert page.locator("#heatmap td.cell").count() == 5 * 5  # I love you . </s> × 我 爱 你 。 </s>

    page.select_option("#sentence", "1")  # the selector
    assert source_tokens() == ["I", "like", "tea", "!", "</s>"]
    assert "selected" in (page.get_attribute("#translation ol.sentences li[data-index='1']", "class") or "")
    page.click("#translation ol.sentences li[data-index='2']")  # or a click on the sentence
    assert source_tokens() == ["Hello", ",", "teacher", ".", "</s>"]
    assert page.input_value("#sentence") == "2"
    page.hover('#tgt-tokens .tgt-token[data-t="2"]')  # 老师 ← teacher
    assert page.inner_text("#src-tokens .src-token.strongest") == "teacher"
    assert page_errors == []


def test_api_reference_renders_offline(page: Page, server_url: str) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server_url + "/docs")
    page.wait_for_selector("#api-reference section.operation")
    paths = page.locator("#api-reference .operation .path").all_inner_texts()
    assert {"/translate", "/languages", "/detect", "/info"} <= set(paths)
    assert requested and all(url.startswith(server_url) for url in requested), requested
