"""The training loop.

One update = `accumulation` token-budget batches → label-smoothed loss / target tokens →
backward → clip → AdamW step at the scheduled learning rate. Every `eval_every` updates:
dev loss and dev BLEU, keep the best weights (`model.safetensors`), write the resumable
checkpoint (`checkpoints/last`), and stop early after `patience` evaluations without gain.

Distributed training uses PyTorch's own engine: launched by `torchrun`, each rank reads a
disjoint share of every epoch's batches, DistributedDataParallel all-reduces gradients
(`no_sync` on inner accumulation steps), and only rank 0 writes files and shows progress.

This module is the loop and the orchestration; the parts live beside it: distributed.py (the
process group), batches.py (training and dev batches), loss.py (the loss of a batch),
evaluation.py (dev loss, dev BLEU), state.py (what a resumed run needs, the best-checkpoint
rule), run_log.py (console, train.log, metrics.jsonl, TensorBoard), transfer.py (fine-tuning).
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import signal
import time
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from yiyan.averaging import CheckpointKeeper
from yiyan.checkpoint import (
    has_training_checkpoint,
    load_training_checkpoint,
    load_weights,
    save_model,
    save_training_checkpoint,
)
from yiyan.config import Config
from yiyan.data.batching import Batch, TokenBudgetBatchSampler, collate
from yiyan.data.binarize import BinarizedDataset
from yiyan.data.mixing import ConcatPairs, MixedBatchSampler
from yiyan.data.tokenizer import Tokenizer
from yiyan.errors import YiyanError
from yiyan.io import write_json
from yiyan.models import build_model
from yiyan.models.base import Seq2SeqModel
from yiyan.prepare import is_prepared, prepare
from yiyan.runtime import (
    fused_adamw_available,
    precision_name,
    resolve_device,
    resolve_precision,
    seed_everything,
    set_threads,
)
from yiyan.training import evaluation, transfer
from yiyan.training.batches import dev_sampler, to_device, training_batches
from yiyan.training.distributed import Distributed
from yiyan.training.ema import ExponentialMovingAverage
from yiyan.training.loss import batch_loss
from yiyan.training.run_dir import claim_run_dir
from yiyan.training.run_log import RunLog
from yiyan.training.schedule import check_schedule, learning_rate
from yiyan.training.state import AGREED, TrainState, rng_state

# Why the ranks stop, agreed on every step by an all-reduce MAX (any rank may raise it).
HALT_NONE, HALT_TIME, HALT_SIGNAL = 0, 1, 2


class Trainer:
    def __init__(self, config: Config, *, resume: bool = False, quiet: bool = False) -> None:
        self.config = config
        self.run = config.run_path
        self.quiet = quiet
        train_cfg = config.training
        check_schedule(train_cfg)  # again: a config built by dataclasses.replace was never validated
        set_threads(train_cfg.num_threads)
        self.device = resolve_device(train_cfg.device)
        if self.device.type == "cuda" and "LOCAL_RANK" in os.environ:
            self.device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
            torch.cuda.set_device(self.device)
        self.dist = Distributed(self.device)
        self.logs = RunLog(self.run, is_main=self.dist.is_main, quiet=quiet)
        self.amp_dtype = resolve_precision(train_cfg.precision, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype is torch.float16)
        seed_everything(train_cfg.seed)

        if self.dist.is_main and not is_prepared(self.run):
            prepare(config, log=self.logs.echo)
        self.dist.barrier()
        self.tokenizer = Tokenizer.load(self.run / "tokenizer")
        self.train_data: BinarizedDataset | ConcatPairs = BinarizedDataset(self.run / "data" / "bin", "train")
        self.dev_data = BinarizedDataset(self.run / "data" / "bin", "dev")
        self.sampler: TokenBudgetBatchSampler | MixedBatchSampler = TokenBudgetBatchSampler(
            self.train_data.src_lengths,
            self.train_data.tgt_lengths,
            train_cfg.batch_tokens,
            seed=train_cfg.seed,
            shuffle=True,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            max_length=train_cfg.max_length,
        )
        if config.finetune.mix_ratio > 0:  # fine-tuning: general-domain pairs in every batch
            self.train_data, self.sampler = transfer.mixed_training_data(
                config,
                self.train_data,
                self.tokenizer,
                rank=self.dist.rank,
                world_size=self.dist.world_size,
                log=self.logs.echo,
            )

        self.model: Seq2SeqModel = build_model(
            config.model, self.tokenizer.src_vocab_size, self.tokenizer.tgt_vocab_size
        ).to(self.device)
        self.state = TrainState()
        if config.finetune.init_from:  # before the optimizer: it takes only the trainable parameters
            self._init_from_pretrained(Path(config.finetune.init_from), load=not resume)
        if self.dist.rank:  # DDP copies rank 0's weights; other ranks draw their own dropout masks
            torch.manual_seed(train_cfg.seed + self.dist.rank)
        self.optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=train_cfg.learning_rate,
            betas=(train_cfg.betas[0], train_cfg.betas[1]),
            eps=train_cfg.eps,
            weight_decay=train_cfg.weight_decay,
            fused=fused_adamw_available(self.device)
            or None,  # one kernel over all tensors: 3.6× faster on CPU
        )
        self.ema = ExponentialMovingAverage.for_model(self.model, train_cfg.ema_decay)  # None when off
        kept = train_cfg.keep_checkpoints if self.dist.is_main else 0  # rank 0 writes the files
        self.keeper = CheckpointKeeper.for_run(self.run, kept)
        if resume:
            self._resume()
        else:
            self.sampler.set_epoch(0)
        self.ddp: torch.nn.Module = self.model
        if self.dist.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.model, device_ids=ids)
        self._stop_signal = False

    # ------------------------------------------------------------------ setup helpers

    def _init_from_pretrained(self, pretrained: Path, *, load: bool = True) -> None:
        """Fine-tuning: check that the pretrained run fits, load its weights (unless resuming,
        when the checkpoint has them) and freeze the configured parts (see training/transfer.py)."""
        transfer.check_pretrained(pretrained, self.config, self.tokenizer)
        if load:
            load_weights(self.model, pretrained / "model.safetensors")
            self.logs.echo(f"initialised from {pretrained}")
        ft = self.config.finetune
        frozen = transfer.freeze_parameters(self.model, ft.freeze, ft.freeze_layers)
        if frozen:
            self.logs.echo(transfer.describe_frozen(self.model, frozen))

    def _resume(self) -> None:
        ckpt_dir = self.run / "checkpoints"
        if not has_training_checkpoint(ckpt_dir):
            raise YiyanError(f"--resume: no checkpoint in {ckpt_dir}; start without --resume")
        saved = load_training_checkpoint(ckpt_dir, self.model, self.optimizer)
        self.state = TrainState.from_saved(saved["train_state"])
        if self.ema is not None:
            self.ema.load_state_tensors(saved["extra_tensors"].get("ema"))
        if self.keeper is not None:
            self.keeper.forget_after(self.state.step)
        try:
            self.sampler.load_state_dict(self.state.sampler)
        except ValueError as error:
            raise YiyanError(
                f"--resume: {error}; resume with the same data, config and number of ranks"
            ) from None
        self.state.restore_rng(self.dist.rank, self.dist.world_size, self.device)
        if self.state.scaler and self.scaler.is_enabled():
            self.scaler.load_state_dict(self.state.scaler)
        self.logs.echo(f"resumed from step {self.state.step} (epoch {self.state.epoch})")

    def _report_length_drops(self) -> None:
        """Say at the start how many training pairs the sampler leaves out for being longer than
        training.max_length tokens (console, train.log, and once a `data` record in metrics.jsonl)."""
        cfg, dropped = self.config.training, self.sampler.num_dropped
        share = dropped / max(len(self.train_data), 1)
        self.logs.echo(
            f"{dropped} of {len(self.train_data)} training pairs ({share:.2%}) are left out: longer than "
            f"training.max_length={cfg.max_length} tokens on either side"
        )
        unscorable = dev_sampler(self.dev_data, cfg.batch_tokens, self.model.max_output_length).num_dropped
        if unscorable:
            self.logs.echo(
                f"dev loss leaves out {unscorable} of {len(self.dev_data)} dev pairs longer than the "
                f"model's {self.model.max_output_length} positions (dev BLEU translates them all)"
            )
        if self.state.step == 0:  # a resumed run has the record from its start
            self.logs.metric(
                {
                    "kind": "data",
                    "step": 0,
                    "train_pairs": len(self.train_data),
                    "over_max_length": dropped,
                    "max_length": cfg.max_length,
                }
            )

    # ------------------------------------------------------------------ steps

    def _update(self, micro_batches: list[Batch]) -> tuple[float, float, int]:
        """One optimizer update over `micro_batches`; returns (loss/token, nll/token, tokens)."""
        cfg = self.config.training
        self.ddp.train()
        local_tokens = sum(b.n_tgt_tokens for b in micro_batches)
        (global_tokens,) = self.dist.sum([float(local_tokens)])
        # DDP averages gradients over ranks; scaling by world/global tokens makes the update equal
        # to one process seeing all ranks' batches (loss per target token).
        scale = self.dist.world_size / max(global_tokens, 1.0)
        loss_sum = nll_sum = 0.0
        for i, batch in enumerate(micro_batches):
            sync = i == len(micro_batches) - 1 or self.dist.world_size == 1
            no_sync = getattr(self.ddp, "no_sync", None)
            with contextlib.nullcontext() if sync or no_sync is None else no_sync():
                loss, nll = batch_loss(
                    self.model, batch, cfg.label_smoothing, self.device, self.amp_dtype, forward=self.ddp
                )
                self.scaler.scale(loss * scale).backward()
            loss_sum += loss.item()
            nll_sum += nll.item()
        step = self.state.step + 1
        rate = learning_rate(cfg, step, cfg.max_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        self.scaler.unscale_(self.optimizer)
        if cfg.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(step)
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum, nll_sum = self.dist.sum([loss_sum, nll_sum])
        return loss_sum / max(global_tokens, 1.0), nll_sum / max(global_tokens, 1.0), int(global_tokens)

    # ------------------------------------------------------------------ evaluation + checkpoints

    def dev_loss(self) -> float:
        """Mean NLL per target token on the dev set (no label smoothing)."""
        return evaluation.dev_loss(
            self.model, self.dev_data, self.config.training.batch_tokens, self.device, self.amp_dtype
        )

    def dev_bleu(self) -> dict[str, Any]:
        """Decode the dev sources and score them against the untouched references."""
        return evaluation.dev_bleu(self.model, self.tokenizer, self.config, self.device)

    def evaluate_and_checkpoint(self) -> bool:
        """Validate, keep the best weights, save `checkpoints/last`; True means stop early.

        Collective: every rank calls it at the same step. Rank 0 validates while the others wait
        in the broadcast of its decision and bookkeeping, so that all ranks agree on them."""
        cfg = self.config.training
        stop = False
        if self.dist.is_main:
            started = time.perf_counter()
            if self.ema is not None:  # validate (and keep as best) the averaged weights
                self.ema.swap()
            record: dict[str, Any] = {
                "kind": "dev",
                "step": self.state.step,
                # the training clock (updates and batch loading, no evaluation) and target tokens
                # seen so far: the x axes of a learning curve (benchmarks/pretrain_curve.py)
                "train_seconds": round(self.state.train_seconds, 2),
                "target_tokens": self.state.target_tokens,
                "loss": round(self.dev_loss(), 4),
            }
            record["ppl"] = round(math.exp(min(record["loss"], 50.0)), 2)
            if cfg.eval_bleu:
                result = self.dev_bleu()
                record.update({"bleu": result["bleu"], "chrf": result["chrf"]})
                for src, hyp in result["examples"]:
                    self.logs.echo(f"    {src}  →  {hyp}")
            value = record["bleu"] if cfg.eval_bleu else -record["loss"]
            improved = self.state.record_eval(value, record["loss"])
            if improved:  # keep the weights just validated (the averaged ones with EMA)
                save_model(self.model, self.run)
            if self.ema is not None:  # back to the trained weights, scored too (for kept checkpoints)
                self.ema.swap()
                record["trained_loss"] = round(self.dev_loss(), 4)
                record["trained_bleu"] = self.dev_bleu()["bleu"] if cfg.eval_bleu else None
            if self.keeper is not None:
                self.keeper.add(self.model, self.state.step, record)
            record["seconds"] = round(time.perf_counter() - started, 2)
            self.logs.metric(record)
            shown = f"bleu {record['bleu']:.2f} chrF {record['chrf']:.2f}" if cfg.eval_bleu else ""
            self.logs.echo(
                f"[dev] step {self.state.step}: loss {record['loss']:.3f} ppl {record['ppl']:.1f} {shown}"
                f"{'  (best)' if improved else ''}"
            )
            stop = bool(cfg.patience and self.state.bad_evals >= cfg.patience)
            if stop:
                self.logs.echo(
                    f"early stopping: no gain in {cfg.patience} evaluations; best at step {self.state.best_step}"
                )
        stop, agreed = self.dist.broadcast((stop, {key: getattr(self.state, key) for key in AGREED}))
        for key, value in agreed.items():  # every rank takes the same branches after the loop
            setattr(self.state, key, value)
        self.save_checkpoint()
        return bool(stop)

    def save_checkpoint(self) -> None:
        """Rank 0 writes `checkpoints/last`. Collective: it gathers every rank's RNG state."""
        rank_rng = self.dist.gather(rng_state(self.device))
        if not self.dist.is_main:
            return
        self.state.sampler = self.sampler.state_dict()
        self.state.capture_rng(rank_rng, self.device, self.dist.world_size)
        self.state.scaler = dict(self.scaler.state_dict()) if self.scaler.is_enabled() else {}
        save_training_checkpoint(
            self.run / "checkpoints",
            self.model,
            self.optimizer,
            {"train_state": self.state.__dict__},
            extra_tensors=None if self.ema is None else {"ema": self.ema.state_tensors()},
        )

    # ------------------------------------------------------------------ main loop

    def _handle_signal(self, signum: int, frame: object) -> None:
        self._stop_signal = True

    def train(self) -> dict[str, Any]:
        cfg = self.config.training
        self.logs.open(self.config, self.state.step)
        n_params = sum(p.numel() for p in self.model.parameters())
        self.logs.echo(
            f"training {self.config.model.type} ({n_params / 1e6:.2f} M parameters) on {self.device}"
            f"{f' × {self.dist.world_size} ranks' if self.dist.world_size > 1 else ''}, "
            f"{len(self.train_data)} training pairs, precision {precision_name(self.amp_dtype)}"
        )
        self._report_length_drops()
        previous = signal.signal(signal.SIGTERM, self._handle_signal)  # torchrun signals every rank
        started = time.monotonic()
        bar = tqdm(
            total=cfg.max_steps or None,
            initial=self.state.step,
            disable=self.quiet or not self.dist.is_main,
            unit="step",
            dynamic_ncols=True,
        )
        batches = training_batches(
            self.sampler, self.state, cfg, world_size=self.dist.world_size, train_pairs=len(self.train_data)
        )
        window_tokens, window_time, window_loss, window_steps = 0, 0.0, 0.0, 0
        window_data_time = 0.0  # of window_time, spent building batches (sampler + collate)
        reason = "max_steps"
        try:
            while True:
                if cfg.max_steps and self.state.step >= cfg.max_steps:
                    break
                step_start = time.perf_counter()
                micro = []
                for _ in range(cfg.accumulation):
                    indices = next(batches, None)
                    if indices is None:
                        break
                    micro.append(
                        to_device(collate(self.train_data, indices, self.model.special_ids), self.device)
                    )
                if not micro:
                    reason = "max_epochs"
                    break
                window_data_time += time.perf_counter() - step_start
                loss, nll, tokens = self._update(micro)
                elapsed = time.perf_counter() - step_start
                self.state.step += 1
                self.state.train_seconds += elapsed
                self.state.target_tokens += tokens
                window_tokens += tokens
                window_time += elapsed
                window_loss += loss
                window_steps += 1
                if self.state.step % cfg.log_every == 0:
                    rate = learning_rate(cfg, self.state.step, cfg.max_steps)
                    self.logs.metric(
                        {
                            "kind": "train",
                            "step": self.state.step,
                            "epoch": self.state.epoch,
                            "loss": loss,
                            "nll": nll,
                            "lr": rate,
                            "tokens_per_s": round(window_tokens / max(window_time, 1e-9), 1),
                            "mean_loss": window_loss / window_steps,
                            # step time split: share spent loading batches, the rest is compute
                            "data_share": round(window_data_time / max(window_time, 1e-9), 4),
                        }
                    )
                    window_tokens, window_time, window_loss, window_steps = 0, 0.0, 0.0, 0
                    window_data_time = 0.0
                if self.dist.is_main:
                    wall = time.monotonic() - started
                    eta = f"{max(cfg.max_time - wall, 0.0) / 60:.1f}m" if cfg.max_time else "?"
                    bar.set_postfix(
                        loss=f"{loss:.3f}",
                        tok_s=f"{self.state.target_tokens / max(self.state.train_seconds, 1e-9):.0f}",
                        lr=f"{learning_rate(cfg, self.state.step, cfg.max_steps):.2e}",
                        epoch=self.state.epoch,
                        eta=eta,
                        refresh=False,
                    )
                    bar.update(1)
                # one all-reduce per step: every rank learns whether any rank must stop, and why
                halt = HALT_SIGNAL if self._stop_signal else HALT_NONE
                if cfg.max_time and time.monotonic() - started >= cfg.max_time:
                    halt = max(halt, HALT_TIME)
                halt = self.dist.max(halt)
                if self.state.step % cfg.eval_every == 0 and self.evaluate_and_checkpoint():
                    reason = "early_stopping"
                    break
                if halt:
                    reason = "signal" if halt == HALT_SIGNAL else "max_time"
                    break
        finally:
            bar.close()
            if previous is not None:  # None: a handler not installed from Python
                signal.signal(signal.SIGTERM, previous)
        # every rank takes the same branch: step, reason and best_step are agreed on
        if reason == "signal":  # stop quickly (a launcher's grace period is short): checkpoint only
            if self.state.step % cfg.eval_every != 0:
                self.save_checkpoint()
        elif self.state.step % cfg.eval_every != 0 or self.state.best_step == 0:
            self.evaluate_and_checkpoint()
        summary = {
            "stopped_by": reason,
            "steps": self.state.step,
            "epochs": self.state.epoch,
            "best_step": self.state.best_step,
            "best_dev_score": self.state.best_score,
            "train_seconds": round(self.state.train_seconds, 2),
            "wall_seconds": round(time.monotonic() - started, 2),
            "target_tokens": self.state.target_tokens,
            "target_tokens_per_s": round(self.state.target_tokens / max(self.state.train_seconds, 1e-9), 1),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3),
            "device": self.device.type,
            "precision": precision_name(self.amp_dtype),
            "world_size": self.dist.world_size,
            "pairs_over_max_length": self.sampler.num_dropped,
        }
        if self.dist.is_main:
            write_json(self.run / "train_summary.json", summary)
            self.logs.echo(
                f"done ({reason}): {summary['steps']} steps, best dev {'BLEU' if cfg.eval_bleu else 'score'} "
                f"{self.state.best_score:.2f} at step {self.state.best_step}; "
                f"{summary['target_tokens_per_s']:.0f} target tokens/s; weights in {self.run / 'model.safetensors'}"
            )
        self.logs.close()
        self.dist.close()
        return summary


def train(
    config: Config, *, resume: bool = False, quiet: bool = False, overwrite: bool = False
) -> dict[str, Any]:
    """Train (or resume) the run described by `config`; returns a summary. A run directory that
    already holds a training run needs `resume` or `overwrite` (training/run_dir.py)."""
    claim_run_dir(config.run_path, resume=resume, overwrite=overwrite)
    return Trainer(config, resume=resume, quiet=quiet).train()
