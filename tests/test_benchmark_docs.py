"""Benchmarks as evidence: the result file every benchmark writes, the one definition of
"target tokens", and (below) the check that documented figures equal the committed JSON."""

from __future__ import annotations

import json
import shlex
import signal
import sys
import time
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


# ------------------------------------------------------------------ docs ↔ committed results

import check_docs  # noqa: E402


def test_the_docs_trace_to_the_committed_results() -> None:
    """README's Measured table and every marked figure in docs/benchmarks.md equal the JSON in
    benchmarks/results/, and run_all.sh has a step for every file the README uses."""
    assert check_docs.check() == []


def write_setup(tmp_path: Path, table_row: str, value: float) -> tuple[Path, Path, Path]:
    results = tmp_path / "results"
    common.write_result(
        "peers", {"tok": value, "pct": 0.341}, argv=["x"], matmul_peak=1.0, results_dir=results
    )
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# x\n\n## Measured\n\n| | yiyan (2 cores) |\n|---|---|\n{table_row}\n\n## Next\n\n| a | 12 |\n",
        encoding="utf-8",
    )
    run_all = tmp_path / "run_all.sh"
    run_all.write_text("python benchmarks/peers_side_by_side.py --name peers\n", encoding="utf-8")
    return readme, results, run_all


@pytest.mark.parametrize(
    ("row", "value"),
    [
        ("| tokens/s, 20 min | 2,136 <!-- result: peers.json#/results/tok --> |", 2136.4),
        ("| ratio | 4.0× <!-- result: peers.json#/results/tok --> |", 3.98),
        ("| share | 34.1 % <!-- result: peers.json#/results/pct --> |", 1.0),
        ("| change | −1.95 <!-- result: peers.json#/results/tok --> |", -1.949),
        ("| not yet | pending <!-- fill: peers.json#/results/tok {:,.0f} --> |", 1.0),
    ],
)
def test_a_figure_that_equals_its_result_passes(tmp_path: Path, row: str, value: float) -> None:
    readme, results, run_all = write_setup(tmp_path, row, value)
    assert check_docs.check((readme,), results, run_all) == []


def test_a_pointer_in_uri_fragment_form_reaches_keys_with_spaces() -> None:
    document = {"models": {"fine-tuned + mixing": {"a/b": 1, "~": 2}}}
    assert check_docs.resolve(document, "/models/fine-tuned%20+%20mixing/a~1b") == 1
    assert check_docs.resolve(document, "/models/fine-tuned%20+%20mixing/~0") == 2


@pytest.mark.parametrize(
    ("row", "value", "problem"),
    [
        ("| tokens/s | 2,137 <!-- result: peers.json#/results/tok --> |", 2136.4, "shows 2,137"),
        ("| tokens/s | 2,136 |", 2136.0, "needs its own"),
        ("| BLEU | 23.8 / 25.7 <!-- result: peers.json#/results/tok --> |", 25.7, "needs its own"),
        ("| tokens/s | 2,136 <!-- result: peers.json#/results/nope --> |", 2136.0, "no such value"),
        ("| tokens/s | 2,136 <!-- result: other.json#/results/tok --> |", 2136.0, "not among the committed"),
        ("| share | 35 % <!-- result: peers.json#/results/pct --> |", 1.0, "shows 35 %"),
    ],
)
def test_a_figure_that_does_not_trace_is_reported(
    tmp_path: Path, row: str, value: float, problem: str
) -> None:
    readme, results, run_all = write_setup(tmp_path, row, value)
    problems = check_docs.check((readme,), results, run_all)
    assert len(problems) >= 1 and problem in problems[0], problems
    assert problems[0].startswith("README.md:7:")  # file and line of the figure


def test_a_result_that_run_all_does_not_produce_is_reported(tmp_path: Path) -> None:
    readme, results, run_all = write_setup(
        tmp_path, "| t | 2,136 <!-- result: peers.json#/results/tok --> |", 2136
    )
    run_all.write_text("python benchmarks/train_tatoeba.py --name train-small\n", encoding="utf-8")
    assert check_docs.check((readme,), results, run_all) == [
        "run_all.sh: no step writes peers.json (expected `--name peers`)"
    ]


def test_a_hand_written_result_file_is_reported(tmp_path: Path) -> None:
    readme, results, run_all = write_setup(tmp_path, "| t | pending |", 1.0)
    (results / "by-hand.json").write_text('{"results": {"tok": 1}}', encoding="utf-8")
    problems = check_docs.check((readme,), results, run_all)
    assert problems == [
        "by-hand.json: no benchmark, date, command, machine, versions (write it with common.write_result)"
    ]


def test_fill_writes_the_value_and_its_marker_then_the_check_passes(tmp_path: Path) -> None:
    row = "| t | pending <!-- fill: peers.json#/results/tok {:,.0f} --> / pending <!-- fill: gone.json#/x {:.1f} --> |"
    readme, results, run_all = write_setup(tmp_path, row, 2136.4)
    filled = check_docs.fill(readme.read_text(encoding="utf-8"), results)
    assert (
        "| t | 2,136 <!-- result: peers.json#/results/tok --> / pending <!-- fill: gone.json#/x {:.1f} --> |"
        in filled
    )
    readme.write_text(filled, encoding="utf-8")
    assert check_docs.check((readme,), results, run_all) == []


@pytest.mark.parametrize(
    ("shown", "value", "written"),
    [("2,137", 1234.4, "1,234"), ("−0.46", -0.5, "−0.50"), ("35.0 %", 0.421, "42.1 %"), ("7", 9, "9")],
)
def test_refresh_rewrites_a_stale_figure_in_its_own_format_then_the_check_passes(
    tmp_path: Path, shown: str, value: float, written: str
) -> None:
    row = "| t | {} <!-- result: peers.json#/results/tok --> |"
    readme, results, run_all = write_setup(tmp_path, row.format(shown), value)
    refreshed = check_docs.refresh(readme.read_text(encoding="utf-8"), results)
    assert row.format(written) in refreshed
    readme.write_text(refreshed, encoding="utf-8")
    assert check_docs.check((readme,), results, run_all) == []


# ------------------------------------------------------------------ stopping a peer's process group


def wait_for(path: Path, text: str) -> None:
    """Until `path` holds `text` (the child is ready); a hung child fails the test after long."""
    for _ in range(600):
        if path.exists() and text in path.read_text(encoding="utf-8", errors="replace"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} never showed {text!r}")


def gone(pid: int) -> bool:
    """The process has exited (no entry, or a zombie left for init to reap)."""
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" in status.read_text()
    except OSError:
        return True


def test_a_child_that_saves_on_sigint_is_stopped_by_sigint(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *_: (print('saved', flush=True), sys.exit(0)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(120)\n"
    )
    with common.Child([sys.executable, "-c", code], log=log) as child:
        wait_for(log, "ready")
        assert child.stop(grace_s=60) == "SIGINT"
    assert child.exit_code == 0 and child.peak_rss_gib and child.peak_rss_gib > 0
    assert "saved" in log.read_text(encoding="utf-8")


def test_a_child_gets_keyboard_interrupt_even_when_the_parent_ignores_sigint(tmp_path: Path) -> None:
    """A background job of a script (`nohup run_all.sh &`) starts with SIGINT ignored; its Python
    children must still raise KeyboardInterrupt on it (Joey NMT saves its model there)."""
    log = tmp_path / "child.log"
    code = (
        "import time\n"
        "print('ready', flush=True)\n"
        "try:\n"
        "    time.sleep(120)\n"
        "except KeyboardInterrupt:\n"
        "    print('saved', flush=True)\n"
    )
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        child = common.Child([sys.executable, "-c", code], log=log)
    finally:
        signal.signal(signal.SIGINT, previous)
    with child:
        wait_for(log, "ready")
        assert child.stop(grace_s=60) == "SIGINT"
    assert child.exit_code == 0 and "saved" in log.read_text(encoding="utf-8")


def test_a_group_that_ignores_sigint_and_sigterm_is_killed_children_included(tmp_path: Path) -> None:
    log, pid_file = tmp_path / "child.log", tmp_path / "grandchild.pid"
    script = f"trap '' INT TERM; sleep 300 & echo $! > {pid_file}; echo ready; wait"
    with common.Child(["bash", "-c", script], log=log) as child:
        wait_for(log, "ready")
        grandchild = int(pid_file.read_text())
        assert child.stop(grace_s=0.5) == "SIGKILL"
    assert child.exit_code == -9
    for _ in range(100):  # the kernel delivers SIGKILL to the whole group at once; give it a moment
        if gone(grandchild):
            break
        time.sleep(0.1)
    assert gone(grandchild)
