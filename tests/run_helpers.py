"""Tiny end-to-end runs on the embedded HSK corpus, shared by the training and CLI tests."""

from __future__ import annotations

from pathlib import Path

from yiyan.config import Config, load_config

TINY = [
    "data.corpus=hsk",
    "data.exclude=null",  # configs/demo.yaml excludes HSK (its pretraining corpus is Tatoeba)
    "data.dev_size=60",
    "data.test_size=60",
    "tokenizer.vocab_size=800",
    "tokenizer.character_coverage=0.98",
    "model.d_model=32",
    "model.ff_size=64",
    "model.heads=2",
    "model.encoder_layers=1",
    "model.decoder_layers=1",
    "model.hidden_size=32",
    "model.dropout=0.1",
    "training.batch_tokens=512",
    "training.schedule=inverse_sqrt",  # the demo's linear decay needs max_steps > warmup; tests stop at any step
    "training.warmup_steps=10",
    "training.learning_rate=0.003",
    "training.log_every=1",
    "training.eval_max_sentences=20",
    "training.seed=7",
    "decoding.max_length_ratio=1.0",
]


def tiny_config(run_dir: Path, *overrides: str, arch: str = "transformer") -> Config:
    """A config that trains in seconds; `overrides` are 'section.key=value' strings."""
    return load_config(None, [*TINY, f"model.type={arch}", f"run_dir={run_dir}", *overrides])


PHRASES = [
    ("I love you.", "我爱你。"),
    ("Thank you.", "谢谢你。"),
    ("Good morning.", "早上好。"),
    ("I am a student.", "我是学生。"),
    ("He is a teacher.", "他是老师。"),
    ("Where is the station?", "车站在哪里？"),
    ("I like tea.", "我喜欢茶。"),
    ("She is my friend.", "她是我的朋友。"),
    ("It is cold today.", "今天很冷。"),
    ("See you tomorrow.", "明天见。"),
    ("I am hungry.", "我饿了。"),
    ("We are happy.", "我们很高兴。"),
]


def overfit_run(directory: Path) -> Path:
    """A run that has memorised PHRASES ('I love you.' → '我爱你。'): real model, real tokenizer."""
    from yiyan.training.trainer import train

    tsv = directory / "phrases.tsv"
    tsv.write_text("".join(f"{en}\t{zh}\n" for en, zh in PHRASES), encoding="utf-8")
    run = directory / "run"
    config = tiny_config(
        run,
        "data.corpus=null",
        f"data.train={tsv}",
        f"data.dev={tsv}",
        f"data.test={tsv}",
        "tokenizer.vocab_size=120",
        "tokenizer.character_coverage=1.0",
        "model.d_model=64",
        "model.ff_size=128",
        "model.dropout=0.0",
        "training.label_smoothing=0.0",
        "training.learning_rate=0.003",
        "training.warmup_steps=20",
        "training.max_steps=250",
        "training.eval_every=250",
        "training.log_every=50",
        "decoding.max_length_ratio=2.0",
        "data.decontaminate=false",  # train = dev = test on purpose: the model memorises PHRASES
    )
    train(config, quiet=True)
    return run
