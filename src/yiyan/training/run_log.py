"""What a training run reports, and where: the console, `train.log`, `metrics.jsonl`, TensorBoard.

Only rank 0 reports. A message goes to the console (through `tqdm.write`, so the progress bar
stays intact) and to `train.log`; a metrics record — a dict with `kind` ("data", "train", "dev")
and `step` — is one line of `metrics.jsonl` and a TensorBoard scalar per number in it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tqdm import tqdm

from yiyan.config import Config
from yiyan.io import atomic_write, write_yaml

log = logging.getLogger("yiyan.train")


class RunLog:
    """The reports of the run in `run`; on ranks other than 0 (`is_main` False) it writes nothing.

    `echo` works from the start (console, and the `yiyan.train` logger); `open` adds the files."""

    def __init__(self, run: Path, *, is_main: bool, quiet: bool) -> None:
        self.run = run
        self.is_main = is_main
        self.quiet = quiet
        self.writer: Any = None  # TensorBoard SummaryWriter, once open
        self._handler: logging.Handler | None = None

    def echo(self, message: str) -> None:
        if self.is_main:
            log.info(message)
            if not self.quiet:
                tqdm.write(message)

    def open(self, config: Config, step: int) -> None:
        """Write `config.yaml`, start `train.log` and TensorBoard. Resuming at `step` > 0, drop what
        the interrupted run logged after its checkpoint."""
        if not self.is_main:
            return
        self.run.mkdir(parents=True, exist_ok=True)
        write_yaml(self.run / "config.yaml", config.to_dict())
        handler = logging.FileHandler(self.run / "train.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False  # the console gets tqdm.write; the file gets the record
        self._handler = handler
        if step:
            forget_metrics_after(self.run / "metrics.jsonl", step)
        try:
            from torch.utils.tensorboard import SummaryWriter

            # on resume, TensorBoard drops the events of steps the crashed run logged after the checkpoint
            purge = step + 1 if step else None
            self.writer = SummaryWriter(str(self.run / "tensorboard"), purge_step=purge)
        except ImportError:  # pragma: no cover - tensorboard is a dependency
            self.echo("tensorboard not installed: no TensorBoard scalars")

    def metric(self, record: dict[str, Any]) -> None:
        """Append `record` to metrics.jsonl; its numbers (but `step`) become TensorBoard scalars."""
        if not self.is_main:
            return
        with open(self.run / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key not in ("step", "kind") and isinstance(value, (int, float)):
                    self.writer.add_scalar(f"{record['kind']}/{key}", value, record["step"])

    def close(self) -> None:
        """Close TensorBoard and `train.log`."""
        if self.writer is not None:
            self.writer.close()
        if self._handler is not None:
            log.removeHandler(self._handler)
            self._handler.close()


def forget_metrics_after(path: Path, step: int) -> None:
    """Resuming: drop metrics.jsonl records of steps after `step` (logged by the interrupted run
    after its last checkpoint; they are trained again) and any line a crash cut off."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as old, atomic_write(path) as new:
        for line in old:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and record.get("step", 0) <= step:
                new.write(json.dumps(record) + "\n")
