"""Load test of `yiyan serve`: throughput and latency with dynamic batching on and off.

    python benchmarks/serve_load.py runs/demo --sentences ../shared/data/tatoeba-cmn/test.tsv
    python benchmarks/serve_load.py --fake --requests 500          # smoke run, no model needed

For each phase (batching on, then off) it starts a server on 127.0.0.1 (a subprocess,
`python -m yiyan.serve`, on a free port), warms it up, lets N concurrent clients send M
requests of one sentence each (sentences from a file: the first TSV column, or one per
line), then stops the server. Reports requests/s, sentences/s, p50/p95/p99 latency, errors
and the mean batch size the server formed; prints a Markdown table and writes JSON.

Bounded: M requests per phase at most, and --max-seconds for the whole run (each phase gets
its share; a phase that runs out stops sending and reports what it measured). Talks to
127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"
GRACE_S = 5.0  # after the deadline, in-flight requests may finish within this
FALLBACK_SENTENCES = [
    "I love you.",
    "Hello, teacher!",
    "Where is the train station?",
    "I want to drink some tea.",
    "The weather is very nice today.",
    "He doesn't like cold weather.",
    "We will meet at the library tomorrow morning.",
    "Could you please speak a little more slowly?",
]


@dataclass
class Phase:
    name: str
    max_batch_size: int
    requests: int = 0
    ok: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    requests_per_s: float = 0.0
    sentences_per_s: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    mean_batch_size: float = 0.0
    stopped_early: bool = False


def read_sentences(path: str | None, limit: int = 100_000) -> list[str]:
    if path is None:
        return FALLBACK_SENTENCES
    sentences = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            text = line.rstrip("\r\n").split("\t")[0].strip() if path.endswith(".tsv") else line.strip()
            if text:
                sentences.append(text)
            if len(sentences) >= limit:
                break
    if not sentences:
        raise SystemExit(f"{path}: no sentences")
    return sentences


# ---------------------------------------------------------------------- the server


class Server:
    """`python -m yiyan.serve ... --port 0` in a subprocess; the port is read from its first line."""

    def __init__(self, args: argparse.Namespace, batching: bool, startup_timeout: float) -> None:
        command = [sys.executable, "-m", "yiyan.serve"]
        if args.fake:
            command += ["--fake", "--fake-call-ms", str(args.fake_call_ms)]
            command += ["--fake-sentence-ms", str(args.fake_sentence_ms)]
        else:
            command += [args.run_dir, "--device", args.device, "--threads", str(args.threads)]
        command += ["--host", "127.0.0.1", "--port", "0", "--no-access-log", "--log-level", "warning"]
        command += [
            "--max-queue",
            str(max(256, 4 * args.clients)),
            "--request-timeout",
            str(args.request_timeout),
        ]
        command += ["--max-batch-size", str(args.max_batch_size), "--max-wait-ms", str(args.max_wait_ms)]
        if not batching:
            command.append("--no-batching")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
        }
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()  # the pipe must never fill up
        self.port = self._wait_for_port(startup_timeout)

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def _wait_for_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.log.append(line)
            match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            if match:
                return int(match.group(1))
        self.stop()
        raise SystemExit("server did not start:\n" + "".join(self.log[-20:]))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# ---------------------------------------------------------------------- the clients


class Load:
    """N client threads share a counter of M requests; one keep-alive connection each.

    http.client, not httpx: httpx.AsyncClient spent ~9 ms of CPU per request here, more than the
    server; http.client ~0.3 ms, so the server is what gets measured.
    """

    def __init__(self, port: int, sentences: list[str], args: argparse.Namespace, deadline: float) -> None:
        self.port = port
        self.sentences = sentences
        self.args = args
        self.deadline = deadline
        self.extra = {"beam": args.beam} if args.beam else {}
        self.counter = iter(range(args.requests))
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.stopped_early = False

    def post(self, conn: http.client.HTTPConnection, text: str) -> int:
        body = json.dumps({"text": text, **self.extra}).encode()
        conn.request("POST", "/translate", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status

    def client(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.args.request_timeout + 10)
        while True:
            with self.lock:
                i = next(self.counter, None)
            if i is None:
                break
            if time.monotonic() >= self.deadline:
                self.stopped_early = True
                break
            start = time.perf_counter()
            try:
                status = self.post(conn, self.sentences[i % len(self.sentences)])
                kind = None if status == 200 else f"HTTP {status}"
            except (OSError, http.client.HTTPException) as error:
                kind = type(error).__name__
                conn.close()  # reconnects on the next request
            with self.lock:
                if kind is None:
                    self.latencies.append(time.perf_counter() - start)
                else:
                    self.errors[kind] = self.errors.get(kind, 0) + 1
        conn.close()

    def run(self) -> float:
        """Warm up, then run the clients; returns the wall time of the measured part."""
        warmup = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.args.request_timeout + 10)
        for sentence in self.sentences[:5]:
            self.post(warmup, sentence)
        warmup.close()
        threads = [threading.Thread(target=self.client, daemon=True) for _ in range(self.args.clients)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        # clients stop sending at the deadline; requests in flight get a short grace, then are abandoned
        for thread in threads:
            thread.join(max(self.deadline - time.monotonic(), 0.0) + GRACE_S)
            if thread.is_alive():
                self.stopped_early = True
        return time.perf_counter() - start


def server_stats(port: int) -> dict[str, Any]:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/health")
        stats = json.loads(conn.getresponse().read())
        conn.close()
        return dict(stats)
    except (OSError, http.client.HTTPException, ValueError):
        return {}


def run_phase(args: argparse.Namespace, sentences: list[str], batching: bool, deadline: float) -> Phase:
    phase = Phase("batching" if batching else "no batching", args.max_batch_size if batching else 1)
    server = Server(args, batching, startup_timeout=max(deadline - time.monotonic(), 1.0))
    load = Load(server.port, sentences, args, deadline)
    try:
        before = server_stats(server.port)
        wall = load.run()
        after = server_stats(server.port)
    finally:
        server.stop()
    latencies, errors, sent = load.latencies, load.errors, len(load.latencies) + sum(load.errors.values())
    batches = after.get("batches", 0) - before.get("batches", 0)
    translated = after.get("sentences", 0) - before.get("sentences", 0)
    ms = np.array(latencies) * 1000 if latencies else np.zeros(1)
    phase.requests, phase.ok, phase.errors, phase.error_kinds = (
        sent,
        len(latencies),
        sum(errors.values()),
        errors,
    )
    phase.seconds = round(wall, 3)
    phase.requests_per_s = round(len(latencies) / wall, 2) if wall else 0.0
    phase.sentences_per_s = phase.requests_per_s  # one sentence per request
    phase.p50_ms, phase.p95_ms, phase.p99_ms = (round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99))
    phase.mean_batch_size = round(translated / batches, 2) if batches else 0.0
    phase.stopped_early = load.stopped_early
    return phase


def markdown(phases: list[Phase]) -> str:
    rows = [
        "| mode | max batch | requests | errors | req/s | sentences/s | p50 ms | p95 ms | p99 ms | mean batch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in phases:
        name = p.name + (" (stopped early)" if p.stopped_early else "")
        rows.append(
            f"| {name} | {p.max_batch_size} | {p.requests} | {p.errors} | {p.requests_per_s:.1f} | {p.sentences_per_s:.1f} "
            f"| {p.p50_ms:.1f} | {p.p95_ms:.1f} | {p.p99_ms:.1f} | {p.mean_batch_size:.2f} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", help="a trained run directory (or --fake)")
    parser.add_argument(
        "--fake", action="store_true", help="serve the fake translator: no model, simulated cost"
    )
    parser.add_argument("--fake-call-ms", type=float, default=20, help="--fake: ms per batch (default: 20)")
    parser.add_argument(
        "--fake-sentence-ms", type=float, default=1, help="--fake: ms per sentence (default: 1)"
    )
    parser.add_argument(
        "--sentences", help="sentence file: .tsv (first column) or one per line (default: 8 built-in)"
    )
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default: 32)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per phase (default: 2000)")
    parser.add_argument(
        "--max-seconds", type=float, default=300, help="hard cap for the whole run (default: 300)"
    )
    parser.add_argument("--beam", type=int, help="beam size of every request (default: the model's)")
    parser.add_argument(
        "--max-batch-size", type=int, default=32, help="server's max batch size with batching (default: 32)"
    )
    parser.add_argument("--max-wait-ms", type=float, default=10, help="server's batching wait (default: 10)")
    parser.add_argument(
        "--request-timeout", type=float, default=60, help="server's request timeout, s (default: 60)"
    )
    parser.add_argument(
        "--phases", default="batching,no-batching", help="which phases, in order (default: both)"
    )
    parser.add_argument("--device", default="cpu", help="device of the model (default: cpu)")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads of the server (default: torch's)"
    )
    parser.add_argument("--name", default="serve-load", help="result name: benchmarks/results/NAME.json")
    args = parser.parse_args()
    if not args.fake and not args.run_dir:
        parser.error("give a run directory, or --fake")
    if args.clients < 1 or args.requests < 1 or args.max_seconds <= 0:
        parser.error("--clients, --requests and --max-seconds must be positive")
    names = [name.strip() for name in args.phases.split(",") if name.strip()]
    if not names or set(names) - {"batching", "no-batching"}:
        parser.error("--phases: a comma-separated list of batching, no-batching")

    sentences = read_sentences(args.sentences)
    end = time.monotonic() + args.max_seconds
    phases = []
    for i, name in enumerate(names):
        share = (end - time.monotonic()) / (len(names) - i)
        phase = run_phase(args, sentences, name == "batching", deadline=time.monotonic() + share)
        print(f"{phase.name}: {phase.ok}/{phase.requests} ok in {phase.seconds:.1f} s", file=sys.stderr)
        phases.append(phase)

    table = markdown(phases)
    print(table)
    result = {
        "model": f"fake ({args.fake_call_ms:g} ms/batch + {args.fake_sentence_ms:g} ms/sentence)"
        if args.fake
        else args.run_dir,
        "sentences": args.sentences or "built-in",
        "clients": args.clients,
        "requests": args.requests,
        "beam": args.beam,
        "max_wait_ms": args.max_wait_ms,
        "phases": [asdict(p) for p in phases],
        "markdown": table,
    }
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import write_result

    write_result(args.name, result)
    return 1 if any(p.errors for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
