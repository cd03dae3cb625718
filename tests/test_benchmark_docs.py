"""Benchmarks as evidence: the result file every benchmark writes, the one definition of
"target tokens", and (below) the check that documented figures equal the committed JSON."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import common  # noqa: E402


def test_write_result_records_machine_versions_command_and_date(tmp_path: Path) -> None:
    argv = ["python", "benchmarks/x.py", "--budget", "30s", "--out dir"]
    path = common.write_result(
        "x-bench",
        {"tokens_per_s": 12.5},
        argv=argv,
        extra_versions={"joeynmt": "2.3.0"},
        results_dir=tmp_path,
    )
    assert path == tmp_path / "x-bench.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["benchmark"] == "x-bench"
    assert record["results"] == {"tokens_per_s": 12.5}
    assert shlex.split(record["command"]) == argv  # exact, quoting included
    assert record["date"].endswith("+00:00")
    machine = record["machine"]
    assert machine["cores"] >= 1 and machine["matmul_peak_gflops"] > 0
    assert set(machine["flags"]) == {"avx2", "avx512", "avx512_vnni", "avx_vnni", "amx"}
    versions = record["versions"]
    assert versions["joeynmt"] == "2.3.0"
    assert versions["torch"] and versions["python"] and "sacrebleu" in versions
    assert "yiyan_commit" in versions and "yiyan_dirty" in versions


def test_write_result_refuses_a_name_that_is_not_a_plain_file_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="result name"):
        common.write_result("../escape", {}, argv=["x"], matmul_peak=1.0, results_dir=tmp_path)
    assert not list(tmp_path.parent.glob("escape.json"))


def test_target_tokens_are_pieces_plus_one_eos_per_sentence() -> None:
    assert common.target_tokens([3, 0, 5]) == 3 + 1 + 0 + 1 + 5 + 1
    assert common.target_tokens([]) == 0
    # a generated translation's own EOS is not counted twice
    assert common.generated_pieces(["▁我", "爱", "你", "</s>"]) == 3
    assert common.generated_pieces(["▁我", "爱"]) == 2  # hit the length limit: no EOS produced
    assert common.target_tokens(common.generated_pieces(p) for p in (["a", "</s>"], ["b"])) == 4
