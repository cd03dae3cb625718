"""The LibreTranslate API of `yiyan serve`, driven by the real `libretranslatepy` client over HTTP
against a live uvicorn on 127.0.0.1, and by hand for the parts that client does not send."""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi", reason="yiyan[serve] (FastAPI) is not installed")

from libretranslatepy import LibreTranslateAPI

from serve_helpers import live_server
from yiyan.serve.app import create_app
from yiyan.serve.fake import FakeTranslator
from yiyan.serve.languages import detect
from yiyan.serve.settings import ServeSettings


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeTranslator]]:
    fake = FakeTranslator()
    with live_server(create_app(fake, ServeSettings(max_texts=4, max_chars=300))) as url:
        yield url, fake


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib (the client's transport) would send 127.0.0.1 through a configured proxy."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def post(url: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url + path, timeout=30, trust_env=False, **kwargs)


# ---------------------------------------------------------------------- the real client


def test_client_translates_a_paragraph(server: tuple[str, FakeTranslator]) -> None:
    url, fake = server
    client = LibreTranslateAPI(url)
    fake.calls.clear()
    # q is a document: segmented into sentences, translated one by one, joined the Chinese way
    assert client.translate("I love you. I like tea!", "en", "zh") == "我爱你。我喜欢茶！"
    assert fake.calls[-1]["n"] == 2  # two sentences in one call
    assert client.translate("Hello, teacher.\n\nI love you.", "en", "zh") == "你好，老师。\n\n我爱你。"


def test_client_with_an_api_key_and_language_variants(server: tuple[str, FakeTranslator]) -> None:
    url, _ = server
    client = LibreTranslateAPI(url, api_key="any key: the server has none")
    assert client.translate("I love you.", "en", "zh-Hans") == "我爱你。"
    assert client.translate("I love you.", "EN", "zh_CN") == "我爱你。"


def test_client_languages_and_detect(server: tuple[str, FakeTranslator]) -> None:
    client = LibreTranslateAPI(server[0])
    assert client.languages() == [
        {"code": "en", "name": "English", "targets": ["zh"]},
        {"code": "zh", "name": "Chinese", "targets": []},
    ]
    assert client.detect("我爱你。") == [
        {"language": "zh", "confidence": 100.0},
        {"language": "en", "confidence": 0.0},
    ]
    assert [d["language"] for d in client.detect("I love you, 老师.")] == ["en", "zh"]  # 9 Latin vs 2 Han


def test_client_gets_a_clear_error_for_another_pair(server: tuple[str, FakeTranslator]) -> None:
    client = LibreTranslateAPI(server[0])
    with pytest.raises(urllib.error.HTTPError) as caught:
        client.translate("I love you.", "en", "de")
    assert caught.value.code == 400
    body = json.loads(caught.value.read())
    assert body["error"] == "target language 'de' is not supported: this server translates en → zh"
    with pytest.raises(urllib.error.HTTPError) as caught:
        client.translate("我爱你", "zh", "en")
    assert caught.value.code == 400
    assert "source language 'zh' is not supported" in json.loads(caught.value.read())["error"]


# ---------------------------------------------------------------------- by hand: JSON, lists, auto, html


def test_json_body_with_a_list_and_auto_source(server: tuple[str, FakeTranslator]) -> None:
    url, _ = server
    response = post(
        url, "/translate", json={"q": ["I love you.", "Good tea."], "source": "auto", "target": "zh"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "translatedText": ["我爱你。", "好茶。"],
        "detectedLanguage": [{"language": "en", "confidence": 100.0}] * 2,
    }
    one = post(url, "/translate", json={"q": "I love you.", "source": "auto", "alternatives": 2}).json()
    assert one == {
        "translatedText": "我爱你。",
        "detectedLanguage": {"language": "en", "confidence": 100.0},
        "alternatives": [],
    }


def test_auto_source_refuses_text_in_the_target_language(server: tuple[str, FakeTranslator]) -> None:
    response = post(server[0], "/translate", data={"q": "我爱你。", "source": "auto", "target": "zh"})
    assert response.status_code == 400
    assert response.json()["error"] == "text 0 looks like Chinese (zh), but this server translates en → zh"


def test_html_keeps_markup_and_translates_text_nodes(server: tuple[str, FakeTranslator]) -> None:
    url, _ = server
    html = (
        '<p class="x">I love you. <b title="I love you">I like tea.</b></p>'
        "<script>if (a < b) { tea = 1; }</script>"
        "<p>Tom &amp; you<br/>&nbsp;</p><code>tea</code>"
    )
    response = post(url, "/translate", data={"q": html, "source": "en", "target": "zh", "format": "html"})
    assert response.status_code == 200
    assert response.json()["translatedText"] == (
        '<p class="x">我爱你。 <b title="I love you">我喜欢茶。</b></p>'
        "<script>if (a < b) { tea = 1; }</script>"
        "<p>moT&amp;你<br/>&nbsp;</p><code>tea</code>"  # the fake joins "moT", "&", "你" so
    )


def test_auto_source_judges_html_by_its_text(server: tuple[str, FakeTranslator]) -> None:
    html = '<div class="article-body"><p data-role="lead">我爱你。</p></div>'
    response = post(server[0], "/translate", json={"q": html, "source": "auto", "format": "html"})
    assert response.status_code == 400 and "looks like Chinese" in response.json()["error"]
    html = '<div class="文章">I love you.</div>'
    response = post(server[0], "/translate", json={"q": html, "source": "auto", "format": "html"})
    assert response.json()["translatedText"] == '<div class="文章">我爱你。</div>'


def test_form_with_repeated_q_is_a_list(server: tuple[str, FakeTranslator]) -> None:
    response = post(server[0], "/translate", data={"q": ["I love you.", "Hello!"], "target": "zh"})
    assert response.status_code == 200
    assert response.json() == {
        "translatedText": ["我爱你。", "你好！"],
        "detectedLanguage": [{"language": "en", "confidence": 100.0}] * 2,
    }


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"q": []}, 422, "q: the list is empty"),
        ({"q": 5}, 422, "q"),
        ({"q": "a", "format": "markdown"}, 422, "format"),
        ({"q": "a", "text": "b"}, 422, "not both"),
        ({"q": ["a"] * 5}, 413, "too many texts"),
        ({"q": "x" * 301}, 413, "text 0 is too long"),
    ],
)
def test_bad_libretranslate_requests(
    server: tuple[str, FakeTranslator], body: dict[str, Any], status: int, message: str
) -> None:
    url, fake = server
    before = len(fake.calls)
    response = post(url, "/translate", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert len(fake.calls) == before


def test_detect_needs_q_and_frontend_settings(server: tuple[str, FakeTranslator]) -> None:
    url, _ = server
    missing = post(url, "/detect", json={})
    assert missing.status_code == 422 and "q" in missing.json()["error"]
    settings = httpx.get(url + "/frontend/settings", timeout=30, trust_env=False).json()
    assert settings["charLimit"] == 300 and settings["keyRequired"] is False
    assert settings["language"] == {
        "source": {"code": "en", "name": "English"},
        "target": {"code": "zh", "name": "Chinese"},
    }


def test_detection_by_script() -> None:
    assert [(g.language, g.confidence) for g in detect("Привет, мир", ["en", "ru"])] == [
        ("ru", 100.0),
        ("en", 0.0),
    ]
    assert [g.language for g in detect("12345 !!", ["en", "zh"])] == [
        "en",
        "zh",
    ]  # no letters: the source leads
    assert {g.confidence for g in detect("Guten Tag", ["en", "de"])} == {100.0}  # same script: a tie
    assert detect("日本語のテキスト", ["ja", "zh"])[0].language == "ja"
