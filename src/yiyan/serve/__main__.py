"""`python -m yiyan.serve RUN_DIR` (or `--fake`): the server without the `yiyan` CLI.

Used by benchmarks/serve_load.py; `--fake` serves the deterministic test translator with a
simulated compute cost, for smoke runs without a trained model.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from yiyan.errors import YiyanError
from yiyan.serve import add_serve_arguments, serve_command, settings_from_args
from yiyan.serve.settings import TranslatorLike


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m yiyan.serve", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", help="a trained run directory")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch's default)")
    parser.add_argument("--int8", action="store_true", help="PyTorch dynamic int8 quantization (CPU)")
    parser.add_argument(
        "--fake", action="store_true", help="serve the fake test translator instead of a model"
    )
    parser.add_argument("--fake-call-ms", type=float, default=20.0, help="simulated cost per batch (--fake)")
    parser.add_argument(
        "--fake-sentence-ms", type=float, default=1.0, help="simulated cost per sentence (--fake)"
    )
    add_serve_arguments(parser)
    return parser


def load(args: argparse.Namespace) -> TranslatorLike:
    if args.fake:
        from yiyan.serve.fake import FakeTranslator

        return FakeTranslator(
            call_cost_s=args.fake_call_ms / 1000, sentence_cost_s=args.fake_sentence_ms / 1000
        )
    if not args.run_dir:
        raise YiyanError("give a run directory, or --fake")
    from yiyan.runtime import set_threads
    from yiyan.translator import Translator

    set_threads(args.threads)
    return Translator.load(args.run_dir, device=args.device, int8=args.int8)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
        return serve_command(load(args), settings)
    except YiyanError as error:
        print(f"yiyan: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
