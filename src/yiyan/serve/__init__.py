"""`yiyan serve`: an HTTP API and a web page for a trained model, with dynamic batching.

    from yiyan.serve import ServeSettings, serve_command
    serve_command(Translator.load("runs/demo"), ServeSettings(port=8000))   # blocks; Ctrl+C stops

`create_app` (in `yiyan.serve.app`) builds the FastAPI app without running it. Importing this
package is cheap: FastAPI and uvicorn are imported only when a server is built.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from typing import TYPE_CHECKING

from yiyan.errors import YiyanError
from yiyan.serve.settings import ServeSettings, TranslationLike, TranslatorLike

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = [
    "ServeSettings",
    "TranslationLike",
    "TranslatorLike",
    "add_serve_arguments",
    "create_app",
    "serve_command",
    "settings_from_args",
]

log = logging.getLogger(__name__)


def create_app(translator: TranslatorLike, settings: ServeSettings | None = None) -> FastAPI:
    try:
        from yiyan.serve.app import create_app as _create_app
    except ImportError as error:
        raise YiyanError(
            f"yiyan serve needs FastAPI and uvicorn ({error}): pip install 'yiyan[serve]'"
        ) from None
    return _create_app(translator, settings)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The server's options (the CLI adds RUN_DIR|EXPORT_DIR, --device, --threads, --int8)."""
    d = ServeSettings()
    group = parser.add_argument_group("server")
    group.add_argument(
        "--host", default=d.host, help=f"address to bind (default: {d.host}, this machine only)"
    )
    group.add_argument(
        "--port", type=int, default=d.port, help=f"TCP port (default: {d.port}; 0 = any free port)"
    )
    group.add_argument(
        "--max-batch-size",
        type=int,
        default=d.max_batch_size,
        help=f"sentences per dynamic batch (default: {d.max_batch_size})",
    )
    group.add_argument(
        "--max-wait-ms",
        type=float,
        default=d.max_wait_ms,
        help=f"how long a request waits for others to share its batch (default: {d.max_wait_ms:g})",
    )
    group.add_argument(
        "--no-batching", action="store_true", help="translate requests one at a time (max batch size 1)"
    )
    group.add_argument(
        "--max-queue",
        type=int,
        default=d.max_queue,
        help=f"requests waiting before 503 (default: {d.max_queue})",
    )
    group.add_argument(
        "--max-chars",
        type=int,
        default=d.max_chars,
        help=f"characters per text or document (default: {d.max_chars})",
    )
    group.add_argument(
        "--max-texts", type=int, default=d.max_texts, help=f"texts per request (default: {d.max_texts})"
    )
    group.add_argument(
        "--max-beam",
        type=int,
        default=d.max_beam,
        help=f"largest beam a request may ask for (default: {d.max_beam})",
    )
    group.add_argument(
        "--request-timeout",
        type=float,
        default=d.request_timeout_s,
        help=f"seconds a request may wait and run before 504 (default: {d.request_timeout_s:g})",
    )
    group.add_argument(
        "--log-level", default=d.log_level, choices=["critical", "error", "warning", "info", "debug"]
    )
    group.add_argument("--no-access-log", action="store_true", help="do not log every request")


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    settings = ServeSettings(
        host=args.host,
        port=args.port,
        max_batch_size=1 if args.no_batching else args.max_batch_size,
        max_wait_ms=0.0 if args.no_batching else args.max_wait_ms,
        max_queue=args.max_queue,
        max_chars=args.max_chars,
        max_texts=args.max_texts,
        max_beam=args.max_beam,
        request_timeout_s=args.request_timeout,
        log_level=args.log_level,
        access_log=not args.no_access_log,
    )
    settings.validate()
    return settings


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before starting uvicorn, so a taken port is a one-line error, not a traceback."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as error:
        raise YiyanError(
            f"cannot listen on {host}:{port}: {error.strerror or error} (try another --port)"
        ) from None


def serve_command(translator: TranslatorLike, settings: ServeSettings) -> int:
    """Run the server until Ctrl+C (returns 0) or SIGTERM (graceful, then the signal's default exit)."""
    try:
        import uvicorn
    except ImportError:
        raise YiyanError("yiyan serve needs FastAPI and uvicorn: pip install 'yiyan[serve]'") from None
    settings.validate()
    app = create_app(translator, settings)
    sock = bind_socket(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    if not settings.is_loopback:
        print(
            f"yiyan: warning: listening on {settings.host}, reachable from other machines, with no authentication",
            file=sys.stderr,
        )
    url_host = f"[{host}]" if ":" in host else host
    print(
        f"yiyan: serving on http://{url_host}:{port}/  (API docs: /docs; Ctrl+C stops)",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        app,
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=5,
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl+C after its graceful shutdown
        pass
    finally:
        sock.close()
    print("yiyan: server stopped", file=sys.stderr)
    return 0
