"""Weights and training state on disk: safetensors + JSON, never pickle.

    RUN/model.safetensors + RUN/model.json      best weights and the architecture
    RUN/checkpoints/last/                       newest training checkpoint
    RUN/checkpoints/prev/                       the one before (fallback if `last` is damaged)
    RUN/checkpoints/keep/                       the last N evaluations' weights (averaging.py)

A training checkpoint is a directory holding `model.safetensors`, `optimizer.safetensors`
(every optimizer tensor, flattened), `ema.safetensors` (the weights' moving average, when
training.ema_decay is on) and `state.json` (step, sampler position, RNG states,
scheduler, optimizer hyper-parameters, and a SHA-256 of each tensor file). It is written
to a temporary directory and renamed into place, so `last` is always complete; a file
that does not match its checksum makes the loader fall back to `prev` with a warning.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors import torch as safetensors_torch
from safetensors.torch import load_file, save_file

from yiyan.config import ModelConfig, from_dict
from yiyan.errors import CheckpointError, ConfigError
from yiyan.io import FILE_MODE, read_json, sha256_file, write_json
from yiyan.models import build_model
from yiyan.models.base import Seq2SeqModel

MODEL_FILE = "model.safetensors"
MODEL_JSON = "model.json"


def unwrap(model: torch.nn.Module) -> Seq2SeqModel:
    """The bare model inside a DistributedDataParallel (or torch.compile) wrapper."""
    while not isinstance(model, Seq2SeqModel):
        model = getattr(model, "module", None) or getattr(model, "_orig_mod")  # noqa: B009
    return model


def _save_weights(model: torch.nn.Module, path: Path) -> None:
    """Write weights atomically; tied (shared) tensors are stored once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, FILE_MODE)
    try:
        safetensors_torch.save_model(unwrap(model), tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def model_metadata(model: Seq2SeqModel) -> dict[str, Any]:
    return {
        "format": "yiyan-model/1",
        "model": asdict(model.config),
        "src_vocab_size": model.src_vocab_size,
        "tgt_vocab_size": model.tgt_vocab_size,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def save_model(model: torch.nn.Module, directory: str | Path) -> None:
    """Save `model.safetensors` and `model.json` (architecture + vocabulary sizes)."""
    directory = Path(directory)
    bare = unwrap(model)
    _save_weights(bare, directory / MODEL_FILE)
    write_json(directory / MODEL_JSON, model_metadata(bare))


def load_model_config(directory: str | Path) -> tuple[ModelConfig, int, int]:
    directory = Path(directory)
    meta_path = directory / MODEL_JSON
    if not meta_path.exists():
        raise CheckpointError(f"{meta_path}: not found — is {directory} a trained yiyan run?")
    try:
        meta = read_json(meta_path)
        config = from_dict(ModelConfig, meta["model"])
        return config, int(meta["src_vocab_size"]), int(meta["tgt_vocab_size"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, ConfigError) as error:
        raise CheckpointError(f"{meta_path}: corrupt model description ({error})") from None


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load safetensors weights into `model`, with a clear error on any mismatch."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: corrupt checkpoint ({error})") from None
    bare = unwrap(model)
    expected = bare.state_dict()
    missing = [k for k in expected if k not in tensors and not _is_tied_alias(bare, k, tensors)]
    unexpected = [k for k in tensors if k not in expected]
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the model (missing: {missing[:5]}, unexpected: {unexpected[:5]})"
        )
    for key, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{path}: '{key}' has shape {tuple(tensor.shape)} but the model expects {tuple(expected[key].shape)}"
            )
    with torch.no_grad():
        for key, tensor in tensors.items():
            expected[key].copy_(tensor)


def _is_tied_alias(model: torch.nn.Module, key: str, tensors: dict[str, torch.Tensor]) -> bool:
    """True when `key` names a tensor that shares storage with one stored under another name."""
    state = model.state_dict()
    target = state[key]
    return any(
        name in tensors and other.data_ptr() == target.data_ptr()
        for name, other in state.items()
        if name != key
    )


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> Seq2SeqModel:
    """Build the model described by `model.json` and load `model.safetensors` (no pickle)."""
    directory = Path(directory)
    config, src_vocab, tgt_vocab = load_model_config(directory)
    model = build_model(config, src_vocab, tgt_vocab)
    load_weights(model, directory / MODEL_FILE)
    return model.to(device).eval()


# ---------------------------------------------------------------- training checkpoints


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state_dict into tensors (for safetensors) and JSON-able rest."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param_id, param_state in state["state"].items():
        for name, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{param_id}.{name}"] = value.detach().contiguous().cpu()
            else:
                scalars.setdefault(str(param_id), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        param_id, name = key.split(".", 1)
        state.setdefault(int(param_id), {})[name] = tensor
    for param_id, values in meta["scalars"].items():
        state.setdefault(int(param_id), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_training_checkpoint(
    directory: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    extra_tensors: dict[str, dict[str, torch.Tensor]] | None = None,
) -> None:
    """Write checkpoints/last atomically; the previous `last` becomes `prev`.
    `extra_tensors`: more tensor files, e.g. {"ema": ...} → ema.safetensors (checksummed too)."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".last.*"):  # left behind by a process killed while saving
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=".last.", dir=root))
    try:
        _save_weights(model, tmp / "model.safetensors")
        opt_tensors, opt_meta = _flatten_optimizer(optimizer)
        save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
        for name, tensors in (extra_tensors or {}).items():
            save_file(tensors, str(tmp / f"{name}.safetensors"))
        files = {path.name: sha256_file(path) for path in sorted(tmp.glob("*.safetensors"))}
        write_json(tmp / "state.json", {**state, "optimizer": opt_meta, "sha256": files})
        for path in tmp.iterdir():  # make the files durable before the directory becomes `last`
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        last, prev = root / "last", root / "prev"
        if last.exists():
            shutil.rmtree(prev, ignore_errors=True)
            os.replace(last, prev)
        os.replace(tmp, last)
        _fsync_directory(root)  # make the renames durable too
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fsync_directory(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. a platform without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _verify(directory: Path) -> dict[str, Any]:
    state_path = directory / "state.json"
    if not state_path.exists():
        raise CheckpointError(f"{state_path}: missing")
    try:
        state: dict[str, Any] = read_json(state_path)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{state_path}: corrupt ({error})") from None
    checksums = state.get("sha256") if isinstance(state, dict) else None
    required = {"model.safetensors", "optimizer.safetensors"}
    if not isinstance(checksums, dict) or not required <= set(checksums):
        raise CheckpointError(f"{state_path}: no checksums of model.safetensors and optimizer.safetensors")
    for name, digest in checksums.items():
        path = directory / name
        if not path.exists() or sha256_file(path) != digest:
            raise CheckpointError(f"{path}: missing or does not match its checksum (cut off mid-write?)")
    return state


def load_training_checkpoint(
    directory: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None
) -> dict[str, Any]:
    """Restore model (and optimizer) from checkpoints/last, or from prev if last is damaged.
    The returned state has the extra tensor files under "extra_tensors" ({"ema": {...}})."""
    root = Path(directory)
    errors = []
    for name in ("last", "prev"):
        candidate = root / name
        if not candidate.exists():
            continue
        try:
            state = _verify(candidate)
        except CheckpointError as error:
            errors.append(str(error))
            continue
        if errors:
            warnings.warn(
                f"checkpoint {root / 'last'} is damaged ({errors[0]}); resuming from {candidate}",
                stacklevel=2,
            )
        load_weights(model, candidate / "model.safetensors")
        if optimizer is not None:
            tensors = load_file(str(candidate / "optimizer.safetensors"))
            optimizer.load_state_dict(_unflatten_optimizer(tensors, state["optimizer"]))
        extra = set(state["sha256"]) - {MODEL_FILE, "optimizer.safetensors"}
        state["extra_tensors"] = {
            name.removesuffix(".safetensors"): load_file(str(candidate / name)) for name in sorted(extra)
        }
        return state
    detail = f": {'; '.join(errors)}" if errors else ""
    raise CheckpointError(f"no usable training checkpoint in {root}{detail}")


def has_training_checkpoint(directory: str | Path) -> bool:
    root = Path(directory)
    return (root / "last").exists() or (root / "prev").exists()
