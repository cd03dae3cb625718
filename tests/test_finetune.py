"""Fine-tuning: a tiny pretrained run (one per architecture) fine-tuned on other HSK pairs."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from model_helpers import tiny_model
from run_helpers import TINY
from yiyan.cli import main
from yiyan.config import Config, load_config
from yiyan.data.binarize import BinarizedDataset
from yiyan.data.mixing import MixedBatchSampler
from yiyan.data.tokenizer import BYTE_PIECES
from yiyan.errors import CheckpointError, ConfigError, YiyanError
from yiyan.finetune import REPORT_JSON, REPORT_MD, finetune, freeze_parameters
from yiyan.io import read_json, write_json
from yiyan.prepare import prepare
from yiyan.training.trainer import Trainer, train

# The tiny settings without the model section: a fine-tune config inherits it from the pretrained run.
NOT_MODEL = [item for item in TINY if not item.startswith("model.")]
QUICK = ("training.eval_bleu=false", "training.max_steps=8", "training.eval_every=8")


@pytest.fixture(scope="module")
def corpora(
    tmp_path_factory: pytest.TempPathFactory, data_hsk_pairs: list[tuple[str, str]]
) -> dict[str, Path]:
    """Two disjoint slices of the HSK corpus as TSV files: 'general' and 'in_domain'."""
    directory = tmp_path_factory.mktemp("corpora")
    slices = {"general": data_hsk_pairs[:1500], "in_domain": data_hsk_pairs[2500:3300]}
    for name, pairs in slices.items():
        (directory / f"{name}.tsv").write_text("".join(f"{en}\t{zh}\n" for en, zh in pairs), encoding="utf-8")
    return {name: directory / f"{name}.tsv" for name in slices}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory, corpora: dict[str, Path]) -> Callable[[str], Path]:
    """`pretrained(arch)`: a run trained for 100 steps on the general slice (built once per architecture)."""
    runs: dict[str, Path] = {}

    def build(arch: str) -> Path:
        if arch not in runs:
            run = tmp_path_factory.mktemp("pretrained") / arch
            config = load_config(
                None,
                [
                    *TINY,
                    f"model.type={arch}",
                    f"data.corpus={corpora['general']}",
                    "training.max_steps=100",
                    "training.eval_every=100",
                    "training.eval_bleu=false",
                    f"run_dir={run}",
                ],
            )
            train(config, quiet=True)
            runs[arch] = run
        return runs[arch]

    return build


def ft_config(run: Path, pretrained: Path, corpus: Path, *overrides: str) -> Config:
    return load_config(
        None,
        [
            *NOT_MODEL,
            f"data.corpus={corpus}",
            f"finetune.init_from={pretrained}",
            f"run_dir={run}",
            *overrides,
        ],
    )


def records(run: Path, kind: str) -> list[dict[str, float]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


# ---------------------------------------------------------------------- fine-tuning works


def test_finetuning_lowers_the_in_domain_dev_loss_and_writes_the_report(
    tmp_path: Path, pretrained: Callable[[str], Path], corpora: dict[str, Path]
) -> None:
    pre = pretrained("transformer")
    config = ft_config(
        tmp_path / "ft", pre, corpora["in_domain"], "training.max_steps=40", "training.eval_every=20"
    )
    assert config.model.d_model == 32 and config.model.encoder_layers == 1  # inherited from model.json
    before = Trainer(config, quiet=True).dev_loss()  # the pretrained weights on the in-domain dev set
    with pytest.warns(UserWarning, match="covers less than"):  # the tiny vocabulary misses many characters
        report = finetune(pre, config, scratch=True, quiet=True, beam=1, log=lambda _: None)

    assert min(r["loss"] for r in records(tmp_path / "ft", "dev")) < before
    assert (tmp_path / "ft" / REPORT_JSON).is_file() and (tmp_path / "ft" / REPORT_MD).is_file()
    saved = read_json(tmp_path / "ft" / REPORT_JSON)
    assert saved == json.loads(json.dumps(report))
    for label in ("pretrained", "finetuned", "scratch"):
        for metric in ("bleu", "chrf"):
            assert isinstance(saved["in_domain_test"][label][metric], float)
    for label in ("pretrained", "finetuned"):
        assert isinstance(saved["general_test"][label]["bleu"], float)
    assert saved["in_domain_test"]["sentences"] == saved["general_test"]["sentences"] == 60
    assert isinstance(saved["gains"]["general_bleu_drop"], float)
    for label in ("finetuned", "scratch"):
        assert saved["training"][label]["steps"] == 40
        assert saved["training"][label]["wall_seconds"] > 0
    assert saved["data"]["in_domain"]["train"] > 600 and saved["data"]["pretrained"]["train"] > 1300
    assert 0 < saved["vocabulary"]["train"]["tgt"]["char_coverage"] < 1 and saved["low_coverage"]
    assert "| finetuned |" in (tmp_path / "ft" / REPORT_MD).read_text()

    scratch = tmp_path / "ft-scratch"
    assert (
        read_json(scratch / "prepare_report.json")["tokenizer"]["reused_from"] is None
    )  # its own vocabulary
    assert read_json(tmp_path / "ft" / "prepare_report.json")["tokenizer"]["reused_from"] == str(
        pre / "tokenizer"
    )
    assert read_json(scratch / "model.json")["model"]["d_model"] == 32


# ---------------------------------------------------------------------- freezing


def embeddings(name: str) -> bool:
    return name.startswith(("src_embedding.", "tgt_embedding.", "output_projection."))


FREEZE_CASES = {
    "transformer-embeddings": ("transformer", "finetune.freeze=[embeddings]", embeddings),
    "transformer-encoder": (
        "transformer",
        "finetune.freeze=[encoder]",
        lambda n: n.startswith(("encoder_layers.", "encoder_norm.")),
    ),
    "transformer-first-layer": (
        "transformer",
        "finetune.freeze_layers=1",
        lambda n: n.startswith(("encoder_layers.0.", "decoder_layers.0.")),
    ),
    "rnn-embeddings": ("rnn", "finetune.freeze=[embeddings]", embeddings),
    "rnn-decoder": (
        "rnn",
        "finetune.freeze=[decoder]",
        lambda n: n.startswith(("decoder.", "bridge.", "attention.", "output_layer.")),
    ),
    "rnn-first-layer": (
        "rnn",
        "finetune.freeze_layers=1",
        lambda n: bool(re.search(r"coder\.\w+_l0(_reverse)?$", n)),
    ),
}


@pytest.mark.parametrize("case", FREEZE_CASES)
def test_frozen_parameters_stay_bit_identical_while_the_others_change(
    tmp_path: Path, pretrained: Callable[[str], Path], corpora: dict[str, Path], case: str
) -> None:
    arch, setting, is_frozen = FREEZE_CASES[case]
    pre = pretrained(arch)
    trainer = Trainer(ft_config(tmp_path / "ft", pre, corpora["in_domain"], setting, *QUICK), quiet=True)
    in_optimizer = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    for name, parameter in trainer.model.named_parameters():
        assert parameter.requires_grad is not is_frozen(name), name
        assert (id(parameter) in in_optimizer) is not is_frozen(name), name
    trainer.train()

    before = weights(pre / "model.safetensors")
    after = weights(tmp_path / "ft" / "checkpoints" / "last" / "model.safetensors")
    assert before.keys() == after.keys()
    frozen = [name for name in before if is_frozen(name)]
    assert frozen
    for name in before:
        assert torch.equal(before[name], after[name]) is is_frozen(name), name


def test_freeze_parameters_by_part_and_layer() -> None:
    for arch in ("transformer", "rnn"):
        model = tiny_model(arch)  # 2 encoder and 2 decoder layers
        frozen = freeze_parameters(model, [], freeze_layers=1)
        assert frozen and all(re.search(r"layers\.0\.|_l0(_reverse)?$", name) for name in frozen), frozen
        assert any(name.endswith("_l0_reverse") for name in frozen) or arch == "transformer"
        assert not any(re.search(r"layers\.1\.|_l1", name) for name in frozen)
    with pytest.raises(ConfigError, match="freeze_layers is 3"):
        freeze_parameters(tiny_model("transformer"), [], freeze_layers=3)
    with pytest.raises(ConfigError, match="no parameter to train"):
        freeze_parameters(tiny_model("rnn"), ["embeddings", "encoder", "decoder"])
    with pytest.raises(ConfigError, match="need finetune.init_from"):
        load_config(None, ["finetune.freeze=[encoder]"])


# ---------------------------------------------------------------------- mixing and resuming


def test_mixing_puts_general_pairs_into_batches_at_the_configured_rate(
    tmp_path: Path, pretrained: Callable[[str], Path], corpora: dict[str, Path]
) -> None:
    pre = pretrained("transformer")
    trainer = Trainer(
        ft_config(tmp_path / "ft", pre, corpora["in_domain"], "finetune.mix_ratio=0.25"), quiet=True
    )
    assert isinstance(trainer.sampler, MixedBatchSampler)
    in_domain = len(BinarizedDataset(tmp_path / "ft" / "data" / "bin", "train"))
    general = BinarizedDataset(pre / "data" / "bin", "train")
    batches = list(trainer.sampler)  # one epoch
    flat = [i for batch in batches for i in batch]
    share = sum(i >= in_domain for i in flat) / len(flat)
    assert share == pytest.approx(0.25, abs=0.01)
    assert sorted(i for i in flat if i < in_domain) == list(range(in_domain))
    mixed = [batch for batch in batches if len(batch) >= 8]
    assert mixed and all(abs(sum(i >= in_domain for i in b) - 0.25 * len(b)) <= 2 for b in mixed)
    # the combined view hands the trainer the general pair's own ids
    index = next(i for i in flat if i >= in_domain)
    assert (trainer.train_data.src(index) == general.src(index - in_domain)).all()


def test_a_finetune_resumes_exactly(
    tmp_path: Path, pretrained: Callable[[str], Path], corpora: dict[str, Path]
) -> None:
    pre = pretrained("transformer")
    common = ("finetune.mix_ratio=0.25", "finetune.freeze=[embeddings]", "training.eval_bleu=false")
    straight = ft_config(tmp_path / "straight", pre, corpora["in_domain"], *common, "training.max_steps=12")
    train(straight, quiet=True)
    first = ft_config(tmp_path / "resumed", pre, corpora["in_domain"], *common, "training.max_steps=6")
    train(first, quiet=True)
    second = ft_config(tmp_path / "resumed", pre, corpora["in_domain"], *common, "training.max_steps=12")
    summary = train(second, resume=True, quiet=True)

    assert summary["steps"] == 12
    assert [r["step"] for r in records(tmp_path / "resumed", "train")] == list(range(1, 13))
    a = weights(tmp_path / "straight" / "checkpoints" / "last" / "model.safetensors")
    b = weights(tmp_path / "resumed" / "checkpoints" / "last" / "model.safetensors")
    for name in a:
        assert torch.equal(a[name], b[name]), name
    embedding = next(name for name in a if embeddings(name))
    assert torch.equal(b[embedding], weights(pre / "model.safetensors")[embedding])


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.d_model=64", r"d_model: 64 ≠ 32"),
        ("model.type=rnn", r"type: 'rnn' ≠ 'transformer'"),
        ("model.encoder_layers=2", r"encoder_layers: 2 ≠ 1"),
    ],
)
def test_a_different_architecture_is_a_clear_error(
    tmp_path: Path, pretrained: Callable[[str], Path], corpora: dict[str, Path], override: str, message: str
) -> None:
    config = ft_config(tmp_path / "ft", pretrained("transformer"), corpora["in_domain"], override, *QUICK)
    with pytest.raises(CheckpointError, match=message):
        train(config, quiet=True)


def test_a_run_prepared_with_another_vocabulary_is_a_clear_error(
    tmp_path: Path, pretrained: Callable[[str], Path], corpora: dict[str, Path]
) -> None:
    run = tmp_path / "ft"
    own = load_config(
        None, [*TINY, f"data.corpus={corpora['in_domain']}", "tokenizer.vocab_size=700", f"run_dir={run}"]
    )
    prepare(own, log=lambda _: None)  # trains its own tokenizer
    config = ft_config(run, pretrained("transformer"), corpora["in_domain"], *QUICK)
    pieces = 700 + BYTE_PIECES  # byte fallback adds the 256 byte pieces on top of vocab_size
    with pytest.raises(
        CheckpointError, match=f"vocabulary mismatch: .* has {pieces} source / {pieces} target pieces"
    ):
        train(config, quiet=True)


def test_missing_or_corrupt_pretrained_runs_are_clear_errors(
    tmp_path: Path, pretrained: Callable[[str], Path], corpora: dict[str, Path]
) -> None:
    pre = pretrained("transformer")

    def attempt(run: Path) -> None:
        config = ft_config(tmp_path / f"ft-{run.name}", run, corpora["in_domain"], *QUICK)
        train(config, quiet=True)

    with pytest.raises(CheckpointError, match="model.json: not found"):
        finetune(tmp_path / "nowhere", ft_config(tmp_path / "ft", tmp_path / "nowhere", corpora["in_domain"]))

    copy = tmp_path / "no-weights"
    shutil.copytree(pre, copy)
    (copy / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        attempt(copy)

    copy = tmp_path / "truncated"
    shutil.copytree(pre, copy)
    data = (copy / "model.safetensors").read_bytes()
    (copy / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt checkpoint"):
        attempt(copy)

    copy = tmp_path / "bad-json"
    shutil.copytree(pre, copy)
    (copy / "model.json").write_text("{ not json")
    with pytest.raises(CheckpointError, match="corrupt model description"):
        attempt(copy)


def test_mismatched_languages_and_missing_mix_data_are_clear_errors(
    tmp_path: Path, pretrained: Callable[[str], Path], corpora: dict[str, Path]
) -> None:
    pre = pretrained("transformer")
    config = ft_config(tmp_path / "lang", pre, corpora["in_domain"], "data.tgt_lang=ja", *QUICK)
    with pytest.raises(ConfigError, match="language pair mismatch"):
        train(config, quiet=True)
    config = ft_config(
        tmp_path / "mix",
        pre,
        corpora["in_domain"],
        "finetune.mix_ratio=0.2",
        f"finetune.mix_corpus={tmp_path}",
    )
    with pytest.raises(ConfigError, match="no prepared training data"):
        train(config, quiet=True)


def test_the_model_section_is_inherited_key_by_key(tmp_path: Path) -> None:
    pre = tmp_path / "pre"
    model = {"type": "rnn", "d_model": 48, "hidden_size": 40, "dropout": 0.3, "from_a_future_version": 1}
    write_json(pre / "model.json", {"model": model, "src_vocab_size": 10, "tgt_vocab_size": 10})
    config = load_config(None, [f"finetune.init_from={pre}", "model.dropout=0.1"])
    assert (config.model.type, config.model.d_model, config.model.hidden_size) == ("rnn", 48, 40)
    assert config.model.dropout == 0.1  # given keys win; a mismatch in architecture is reported at training


# ---------------------------------------------------------------------- command line


def test_the_finetune_command(
    tmp_path: Path,
    pretrained: Callable[[str], Path],
    corpora: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    pre = pretrained("rnn")
    config = tmp_path / "ft.yaml"
    config.write_text(f"name: ft\ndata:\n  corpus: {corpora['in_domain']}\n  dev_size: 30\n  test_size: 30\n")
    sets = [x for item in NOT_MODEL if not item.startswith("data.") for x in ("--set", item)]
    args = ["finetune", str(pre), str(config), "--run-dir", str(tmp_path / "ft"), *sets]
    with pytest.warns(UserWarning, match="covers less than"):
        code = main([*args, "--max-steps", "4", "--set", "training.eval_every=4", "--quiet", "--beam", "1"])
    assert code == 0
    report = read_json(tmp_path / "ft" / REPORT_JSON)
    assert report["training"]["finetuned"]["steps"] == 4 and "scratch" not in report["runs"]
    assert "| pretrained |" in capsys.readouterr().out

    assert main(["finetune", str(tmp_path / "nowhere"), str(config), "--run-dir", str(tmp_path / "x")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("yiyan: error:") and "model.json: not found" in error and "Traceback" not in error


def test_finetune_refuses_a_config_for_another_pretrained_run(
    tmp_path: Path, corpora: dict[str, Path]
) -> None:
    config = load_config(
        None, [f"data.corpus={corpora['in_domain']}", f"finetune.init_from={tmp_path / 'a'}"]
    )
    write_json(tmp_path / "b" / "model.json", {"model": {}, "src_vocab_size": 1, "tgt_vocab_size": 1})
    with pytest.raises(YiyanError, match="init_from is"):
        finetune(tmp_path / "b", config)
