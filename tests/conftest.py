"""Shared test fixtures (data fixtures are prefixed `data_`), and the CI rule on skips:
with CI=true a skip is a failure unless ci_skips.ALLOWED_SKIPS_IN_CI allows it (see ci_skips.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_skips import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401  (hooks)
from yiyan.config import TokenizerConfig
from yiyan.data.tokenizer import Tokenizer

# The shared data lives beside the repository, never copied into it: <repo>/../shared/data
# (CI runs in a fresh clone with a copy of shared/ next to it).
DATA_TATOEBA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tatoeba-cmn"


@pytest.fixture(scope="session")
def data_hsk_pairs() -> list[tuple[str, str]]:
    """(English, Chinese) pairs of the embedded HSK corpus (a package dependency)."""
    from hsk_sentences_audio import load_sentences

    return [(record["translation"]["en"], record["chinese"]) for record in load_sentences()]


@pytest.fixture(scope="session")
def data_text_files(
    tmp_path_factory: pytest.TempPathFactory, data_hsk_pairs: list[tuple[str, str]]
) -> tuple[Path, Path]:
    """300 HSK pairs as two line-aligned files (English, Chinese)."""
    directory = tmp_path_factory.mktemp("data_text")
    src, tgt = directory / "train.en", directory / "train.zh"
    pairs = data_hsk_pairs[:300]
    src.write_text("".join(f"{en}\n" for en, _ in pairs), encoding="utf-8")
    tgt.write_text("".join(f"{zh}\n" for _, zh in pairs), encoding="utf-8")
    return src, tgt


@pytest.fixture(scope="session")
def data_tokenizer(tmp_path_factory: pytest.TempPathFactory, data_text_files: tuple[Path, Path]) -> Tokenizer:
    """A small joint unigram tokenizer trained on `data_text_files`."""
    config = TokenizerConfig(vocab_size=500, hard_vocab_limit=False)
    return Tokenizer.train(*data_text_files, config, tmp_path_factory.mktemp("data_tokenizer"))


@pytest.fixture
def data_tatoeba() -> Path:
    """The shared Tatoeba directory; the test is skipped where it is absent."""
    if not (DATA_TATOEBA / "train.tsv").is_file():
        pytest.skip(f"Tatoeba data not found at {DATA_TATOEBA}")
    return DATA_TATOEBA


@pytest.fixture(scope="session")
def data_prepared_tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HSK data of `run_helpers.tiny_config`, prepared once; copy it with `scale_helpers.run_config`."""
    from scale_helpers import prepare_template

    return prepare_template(tmp_path_factory.mktemp("data_prepared") / "run")
