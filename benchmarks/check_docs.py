"""Check that documented benchmark figures equal the committed JSON results.

    python benchmarks/check_docs.py            # exit 1 and one line per problem, if any
    python benchmarks/check_docs.py --fill     # first write committed results into pending cells

A figure in README.md or docs/benchmarks.md is tied to its source by an HTML comment right after it
(invisible when rendered):

    | training throughput | 2,136 <!-- result: train-tatoeba-small.json#/results/train/target_tokens_per_s --> |

The path after `#` is a JSON pointer (RFC 6901) into benchmarks/results/FILE. The number just before
the marker must equal the JSON value rounded to the decimals shown ("2,136" ← 2136.4; "4.0×" ←
3.98); a number followed by "%" is compared with 100 × the value. In the README's "Measured" section
every number in a table's data cells (all columns but the first) must carry a marker: the table
shows only figures that trace to a committed result, and `bash benchmarks/run_all.sh DATA` — whose
steps name these files with `--name` — reproduces them all. tests/test_benchmark_docs.py runs this
check under `make test`.

Placeholders: a cell `pending <!-- fill: FILE#POINTER {:,.0f} -->` is not checked; `--fill` replaces
it by the value in the given format and a result marker once FILE is committed.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
DOCS = (REPO / "README.md", REPO / "docs" / "benchmarks.md")
RUN_ALL = REPO / "benchmarks" / "run_all.sh"
MEASURED_HEADING = "## Measured"
RESULT_KEYS = ("benchmark", "date", "command", "machine", "versions", "results")

MARKER = re.compile(r"<!--\s*result:\s*([^#\s]+)#(\S*)\s*-->")
OTHER_COMMENT = re.compile(r"<!--(?!\s*result:).*?-->")
CODE_SPAN = re.compile(r"`[^`]*`")
SEPARATOR = re.compile(r"\|[\s:|-]*\|")
FILL = re.compile(r"pending\s*<!--\s*fill:\s*([^#\s]+)#(\S*)\s+(\{[^}]*\})\s*-->")
NUMBER = re.compile(r"[+\-−]?\d[\d,]*(?:\.\d+)?(?:\s*%)?")


@dataclass(frozen=True)
class Marker:
    doc: str
    line: int
    shown: str  # the number as written, e.g. "2,136" or "34 %"
    file: str
    pointer: str


def resolve(document: Any, pointer: str) -> Any:
    """The value at a JSON pointer ("" or "/a/0/b"; "~1" is "/", "~0" is "~"), in its URI
    fragment form (RFC 6901 §6): "%20" is a space, so a key with spaces fits in a marker."""
    if pointer in ("", "/"):
        return document
    if not pointer.startswith("/"):
        raise KeyError(f"JSON pointer {pointer!r} must start with '/'")
    value = document
    for raw in pointer[1:].split("/"):
        key = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(value, list):
            value = value[int(key)]
        elif isinstance(value, dict):
            value = value[key]
        else:
            raise KeyError(f"{pointer}: {key!r} of a {type(value).__name__}")
    return value


def markers(text: str, doc: str) -> tuple[list[Marker], list[str]]:
    """Every marker of `text` with the number just before it (since the previous marker, same line)."""
    found, problems = [], []
    for number, line in enumerate(text.splitlines(), 1):
        line = CODE_SPAN.sub(
            lambda span: " " * len(span[0]), line
        )  # `<!-- result: … -->` documents the syntax
        previous = 0
        for match in MARKER.finditer(line):
            numbers = NUMBER.findall(line[previous : match.start()])
            if numbers:
                found.append(Marker(doc, number, numbers[-1].strip(), match[1], match[2]))
            else:
                problems.append(f"{doc}:{number}: marker for {match[1]}#{match[2]} follows no number")
            previous = match.end()
    return found, problems


def matches(shown: str, value: Any) -> bool:
    """Does `shown` equal `value` rounded to the decimals shown (× 100 for a percentage)?"""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    text = shown.replace(",", "").replace("−", "-").replace(" ", "")
    if text.endswith("%"):
        text, value = text[:-1], value * 100
    decimals = len(text.split(".")[1]) if "." in text else 0

    def fixed(x: float) -> str:
        return f"{x:.{decimals}f}".replace("-", "") if round(x, decimals) == 0 else f"{x:.{decimals}f}"

    return fixed(float(text)) == fixed(value)


def check_marker(marker: Marker, results: Path) -> str | None:
    where = f"{marker.doc}:{marker.line}"
    path = results / marker.file
    if not path.is_file():
        return f"{where}: {marker.file} is not among the committed results ({results})"
    try:
        value = resolve(json.loads(path.read_text(encoding="utf-8")), marker.pointer)
    except (KeyError, IndexError, ValueError) as error:
        return f"{where}: {marker.file}#{marker.pointer}: no such value ({error})"
    if not matches(marker.shown, value):
        return f"{where}: shows {marker.shown}, but {marker.file}#{marker.pointer} is {value!r}"
    return None


def section(text: str, heading: str) -> tuple[int, list[str]]:
    """(first line number, lines) of the section starting with `heading`, up to the next `## `."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(heading):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
            return i + 1, lines[i:end]
    return 0, []


def unbacked_numbers(text: str, doc: str) -> list[str]:
    """Numbers in the data cells of the Measured section's tables that carry no marker."""
    problems = []
    first, lines = section(text, MEASURED_HEADING)
    if not lines:
        return [f"{doc}: no '{MEASURED_HEADING}' section"]
    for offset, line in enumerate(lines):
        stripped = line.strip()
        following = lines[offset + 1].strip() if offset + 1 < len(lines) else ""
        if not stripped.startswith("|") or SEPARATOR.fullmatch(stripped) or SEPARATOR.fullmatch(following):
            continue  # not a table row, the |---| separator, or the header above it
        cells = stripped.strip("|").split("|")
        for cell in cells[1:]:
            cell = OTHER_COMMENT.sub("", cell)  # e.g. a pending cell's fill marker
            segments = MARKER.split(cell)[::3]  # text between markers (split keeps 2 groups)
            for k, segment in enumerate(segments):
                count = len(NUMBER.findall(segment))
                last = k == len(segments) - 1
                if (last and count) or (not last and count != 1):
                    problems.append(
                        f"{doc}:{first + offset}: '{cell.strip()}': every number in the Measured table "
                        "needs its own <!-- result: FILE#POINTER --> marker"
                    )
                    break
    return problems


def check_result_file(path: Path) -> list[str]:
    """A committed result has the shape common.write_result writes."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        return [f"{path.name}: not JSON ({error})"]
    missing = (
        [key for key in RESULT_KEYS if key not in record] if isinstance(record, dict) else list(RESULT_KEYS)
    )
    problems = (
        [f"{path.name}: no {', '.join(missing)} (write it with common.write_result)"] if missing else []
    )
    if not missing and record["benchmark"] != path.stem:
        problems.append(f"{path.name}: benchmark is {record['benchmark']!r}, not the file's name")
    if not missing and "matmul_peak_gflops" not in record["machine"]:
        problems.append(f"{path.name}: machine has no matmul_peak_gflops")
    return problems


def reproduced_by_run_all(files: set[str], run_all: Path) -> list[str]:
    script = run_all.read_text(encoding="utf-8")
    return [
        f"{run_all.name}: no step writes {name} (expected `--name {Path(name).stem}`)"
        for name in sorted(files)
        if not re.search(rf"--name\s+{re.escape(Path(name).stem)}(\s|$)", script)
    ]


def check(docs: tuple[Path, ...] = DOCS, results: Path = RESULTS, run_all: Path = RUN_ALL) -> list[str]:
    """Every problem found, as one line each (empty: the docs trace to the results)."""
    problems: list[str] = []
    readme_files: set[str] = set()
    for path in docs:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        name = path.name
        found, bad = markers(text, name)
        problems += bad
        problems += [p for m in found if (p := check_marker(m, results)) is not None]
        if name == "README.md":
            problems += unbacked_numbers(text, name)
            readme_files |= {m.file for m in found}
    for path in sorted(results.glob("*.json")):
        problems += check_result_file(path)
    problems += reproduced_by_run_all(readme_files, run_all)
    return problems


def fill(text: str, results: Path = RESULTS) -> str:
    """Replace every `pending <!-- fill: FILE#POINTER {format} -->` whose result exists by the value,
    formatted, and its `<!-- result: FILE#POINTER -->` marker; the rest stay pending."""

    def value(match: re.Match[str]) -> str:
        path = results / match[1]
        if not path.is_file():
            return match[0]
        number = resolve(json.loads(path.read_text(encoding="utf-8")), match[2])
        return f"{match[3].format(number)} <!-- result: {match[1]}#{match[2]} -->"

    return FILL.sub(value, text)


def shown_as(shown: str, value: float) -> str:
    """`value` written the way `shown` is: its decimals, thousands commas and percent sign."""
    percent = shown.rstrip().endswith("%")
    digits = shown.replace(",", "").replace("−", "-").replace(" ", "").rstrip("%")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    number = value * 100 if percent else value
    text = f"{number:,.{decimals}f}" if "," in shown else f"{number:.{decimals}f}"
    if "−" in shown:  # keep the typographic minus
        text = text.replace("-", "−")
    return text + (shown[len(shown.rstrip().rstrip("%").rstrip()) :] if percent else "")


def refresh(text: str, results: Path = RESULTS) -> str:
    """Rewrite every number that carries a `<!-- result: … -->` marker with the committed value,
    in the same format, so a rerun benchmark updates its tables (prose around them is the author's)."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        out, previous = [], 0
        for match in MARKER.finditer(line):
            segment = line[previous : match.start()]
            path = results / match[1]
            numbers = list(NUMBER.finditer(segment))
            if numbers and path.is_file():
                try:
                    value = resolve(json.loads(path.read_text(encoding="utf-8")), match[2])
                except (KeyError, IndexError, ValueError):
                    value = None
                last_shown = numbers[-1][0].strip() if numbers else ""
                if isinstance(value, (int, float)) and not matches(last_shown, value):
                    last = numbers[-1]
                    new = shown_as(last[0].strip(), value)
                    segment = (
                        segment[: last.start()]
                        + last[0].replace(last[0].strip(), new)
                        + segment[last.end() :]
                    )
            out.append(segment + match[0])
            previous = match.end()
        lines[index] = "".join(out) + line[previous:]
    return "".join(lines)


def main() -> int:
    # --fill: write committed results into the docs' pending cells; --refresh: also rewrite every
    # marked figure with its committed value (after a benchmark was run again)
    if sys.argv[1:] in (["--fill"], ["--refresh"]):
        for path in DOCS:
            text = path.read_text(encoding="utf-8")
            updated = fill(text)
            if sys.argv[1] == "--refresh":
                updated = refresh(updated)
            if updated != text:
                path.write_text(updated, encoding="utf-8")
                print(f"updated {path}")
    problems = check()
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
