"""Documents through yiyan's API (input_format text and html) and the HTML text-node splitter."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi", reason="yiyan[serve] (FastAPI) is not installed")

with warnings.catch_warnings():  # starlette warns that its TestClient will move to httpx2
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from yiyan.html_text import HtmlText
from yiyan.serve.app import create_app
from yiyan.serve.documents import NO_SEGMENTATION
from yiyan.serve.fake import FakeTranslation, FakeTranslator
from yiyan.serve.settings import ServeSettings, TranslatorLike


@contextmanager
def client(translator: TranslatorLike, **settings: Any) -> Iterator[TestClient]:
    with TestClient(create_app(translator, ServeSettings(**settings)), raise_server_exceptions=False) as c:
        yield c


# ---------------------------------------------------------------------- input_format text


def test_a_paragraph_is_segmented_translated_and_reassembled() -> None:
    fake = FakeTranslator()
    paragraph = "I love you. I like tea!\n\nHello, teacher."
    with client(fake) as c:
        response = c.post("/translate", json={"text": paragraph, "input_format": "text"})
    assert response.status_code == 200
    body = response.json()
    assert body["input_format"] == "text" and body["note"] is None
    [document] = body["translations"]
    assert document["source"] == paragraph
    assert document["text"] == "我爱你。我喜欢茶！\n\n你好，老师。"
    assert document["split"] == 0
    assert [s["source"] for s in document["sentences"]] == ["I love you.", "I like tea!", "Hello, teacher."]
    assert [s["text"] for s in document["sentences"]] == ["我爱你。", "我喜欢茶！", "你好，老师。"]
    assert fake.calls == [{"n": 3, "attention": False}]  # all sentences in one translator call


def test_documents_carry_attention_per_sentence_and_split_flags() -> None:
    fake = FakeTranslator(max_words=3)
    texts = ["I love you. I like tea very very good.", "Hello."]
    with client(fake) as c:
        response = c.post("/translate", json={"texts": texts, "input_format": "text", "attention": True})
    first, second = response.json()["translations"]
    assert first["split"] == 1 and second["split"] == 0  # the 6-word sentence was cut into 2 pieces
    assert len(first["sentences"]) == 3 and len(second["sentences"]) == 1
    for sentence in first["sentences"] + second["sentences"]:
        weights = sentence["attention"]["weights"]
        assert len(weights) == len(sentence["tgt_tokens"])
        assert all(len(row) == len(sentence["src_tokens"]) for row in weights)


def test_lines_is_still_the_default_and_does_not_segment() -> None:
    fake = FakeTranslator()
    with client(fake) as c:
        body = c.post("/translate", json={"text": "I love you. I like tea."}).json()
    assert body["input_format"] == "lines"
    [translation] = body["translations"]
    assert "sentences" not in translation and translation["text"] == "我爱你。我喜欢茶。"
    assert fake.calls == [{"n": 1, "attention": False}]


class SentencesOnly:
    """An engine without translate_document (like a translator from before documents)."""

    engine = "fake"
    run_dir = None
    config = FakeTranslator.config

    def __init__(self) -> None:
        self.inner = FakeTranslator()

    def translate_detailed(
        self, texts: Sequence[str], *, attention: bool = False, **options: float | int | None
    ) -> list[FakeTranslation]:
        return self.inner.translate_detailed(texts, attention=attention, **options)


def test_an_engine_without_documents_says_so() -> None:
    with client(SentencesOnly()) as c:
        info = c.get("/info").json()
        body = c.post("/translate", json={"text": "I love you. I like tea.", "input_format": "text"}).json()
    assert info["documents"] is False
    assert body["note"] == NO_SEGMENTATION
    [document] = body["translations"]
    assert document["text"] == "我爱你。我喜欢茶。" and len(document["sentences"]) == 1


def test_info_says_documents_are_segmented() -> None:
    with client(FakeTranslator()) as c:
        assert c.get("/info").json()["documents"] is True


def test_concurrent_document_requests_share_a_batch_but_not_with_lines() -> None:
    fake = FakeTranslator(call_cost_s=0.005)
    app = create_app(fake, ServeSettings(max_wait_ms=200, max_batch_size=64))

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            bodies = [{"text": "I love you. Hello.", "input_format": "text"}] * 3 + [{"text": "I love you."}]
            return await asyncio.gather(*(c.post("/translate", json=b) for b in bodies))

    try:
        responses = asyncio.run(send_all())
    finally:
        app.state.batcher.stop()
    assert [r.status_code for r in responses] == [200] * 4
    assert [r.json()["translations"][0]["text"] for r in responses] == ["我爱你。你好。"] * 3 + ["我爱你。"]
    # one translate_document call for the three documents (6 sentences), one call for the line
    assert sorted(fake.batch_sizes) == [1, 6]


# ---------------------------------------------------------------------- input_format html


def test_html_documents_in_yiyan_shape() -> None:
    html = "<ul><li>I love you. I like tea.</li><li><em>Hello</em>, teacher!</li></ul>"
    with client(FakeTranslator()) as c:
        body = c.post("/translate", json={"texts": [html, "<br>"], "input_format": "html"}).json()
    page, empty = body["translations"]
    assert page["text"] == "<ul><li>我爱你。我喜欢茶。</li><li><em>你好</em>，老师！</li></ul>"
    assert [s["source"] for s in page["sentences"]] == ["I love you.", "I like tea.", "Hello", ", teacher!"]
    assert empty == {"source": "<br>", "text": "<br>", "split": 0, "sentences": []}


def test_bad_input_format_is_422() -> None:
    with client(FakeTranslator()) as c:
        response = c.post("/translate", json={"text": "a", "input_format": "srt"})
    assert response.status_code == 422 and "input_format" in response.json()["error"]


# ---------------------------------------------------------------------- HtmlText


def test_html_text_nodes_and_verbatim_markup() -> None:
    markup = (
        "<!DOCTYPE html>\n<html><head><style>p { color: red }</style><title>My page</title></head>\n"
        "<body><p title=\"keep me\" data-x='1'>Hello   <b>big</b>\n  world.</p><!-- a comment -->"
        '<div translate="no">Brand <div>Name</div> stays</div> after'
        '<span class="x notranslate">no</span><pre>  code  </pre>&copy; &nbsp;<p>a &lt; b</p></body></html>'
    )
    page = HtmlText.parse(markup)
    assert page.texts == ["My page", "Hello", "big", "world.", "after", "a < b"]
    assert page.render([t.upper() for t in page.texts]) == (
        "<!DOCTYPE html>\n<html><head><style>p { color: red }</style><title>MY PAGE</title></head>\n"
        "<body><p title=\"keep me\" data-x='1'>HELLO   <b>BIG</b>\n  WORLD.</p><!-- a comment -->"
        '<div translate="no">Brand <div>Name</div> stays</div> AFTER'
        '<span class="x notranslate">no</span><pre>  code  </pre>&copy; &nbsp;<p>A &lt; B</p></body></html>'
    )


@pytest.mark.parametrize(
    "markup",
    [
        "plain text, no markup",
        "<p>unclosed <b>tags<p>and <i>more",
        "<div><p>a</p><br><img src=x alt='y'><hr/></div>",
        "<p>x &lt; y and y &gt; z</p>",
        "stray </> end tag and </ b> here",
        "<svg><text>drawn</text></svg><![CDATA[ raw ]]><?php echo 1 ?>",
        "",
    ],
)
def test_html_round_trip_is_exact(markup: str) -> None:
    """Rendering each text node as itself gives the input back, byte for byte."""
    page = HtmlText.parse(markup)
    assert page.render(page.texts) == markup


def test_html_inside_collapses_whitespace_and_unescapes() -> None:
    page = HtmlText.parse("<p>\n  Tom &amp;\n   Jerry &#33;  </p>")
    assert page.texts == ["Tom & Jerry !"]
    assert page.render(["<汤姆> & 杰瑞"]) == "<p>\n  &lt;汤姆&gt; &amp; 杰瑞  </p>"


def test_html_render_needs_one_translation_per_node() -> None:
    with pytest.raises(ValueError, match="1 translations for 2 text nodes"):
        HtmlText.parse("<p>a</p><p>b</p>").render(["x"])
