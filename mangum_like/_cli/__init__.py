"""``mangum-like serve | invoke | event``: run a handler locally, as Lambda and its callers do.

``serve`` is a development server: each HTTP request it receives becomes the event of the
chosen AWS service, goes through the handler exactly as on Lambda (one invocation at a time, one
lifespan for the life of the server), and the result becomes the HTTP response. ``invoke`` runs
one event through the handler and prints the result; ``event`` prints a sample event.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from .. import __version__
from .._lambda.context import LambdaContext
from .._local import (
    FORMATS,
    STAGED,
    build_event,
    sample_request,
)
from ..runtime import _INVOKE_MODES as INVOKE_MODES
from ..runtime import INVOKE_MODE_ENV
from ._function import CLIError, Function, InvocationError, import_target, invoke
from ._reload import _supervise
from ._server import (
    STREAMED,
    DevServer,
    StreamedResponse,
    _explain_streaming,
    _watch_the_loop,
)

__all__ = [
    "STREAMED",
    "CLIError",
    "DevServer",
    "Function",
    "InvocationError",
    "StreamedResponse",
    "import_target",
    "invoke",
    "main",
]

logger = logging.getLogger("mangum_like.cli")


def _check_stage(fmt: str, stage: str | None) -> None:
    if stage is not None and fmt not in STAGED:
        raise CLIError(f"--stage applies to the API Gateway formats v1 and v2, not {fmt}")


def _invoke_mode(given: str | None) -> str:
    """--invoke-mode, else MANGUM_LIKE_INVOKE_MODE as the runtime loop reads it, else buffered."""
    if given is not None:
        return given
    mode = (os.environ.get(INVOKE_MODE_ENV) or "buffered").strip().lower()
    if mode not in INVOKE_MODES:
        raise CLIError(
            f"{INVOKE_MODE_ENV} must be one of {', '.join(INVOKE_MODES)}, got {mode!r} "
            "(or pass --invoke-mode)"
        )
    return mode


def _serve(args: argparse.Namespace) -> int:
    _check_stage(args.format, args.stage)
    # The dev server writes one access line per request (mangum_like.cli.access, which also
    # covers the answers given without an invocation); the handler's own would repeat it.
    logging.getLogger("mangum_like.http").setLevel(logging.WARNING)
    mode = _invoke_mode(args.invoke_mode)
    if args.reload:
        return _supervise([arg for arg in args.argv if arg != "--reload"])
    function = Function.load(args.target, base_path=args.base_path, backend=args.backend)
    try:
        server = DevServer(
            function,
            args.format,
            host=args.host,
            port=args.port,
            stage=args.stage,
            timeout=args.timeout,
            invoke_mode=mode,
        )
    except OSError as exc:
        raise CLIError(
            f"Cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", 1
        ) from exc
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # As uvicorn does: the first signal shuts down gracefully (the request in flight ends,
        # then the lifespan shuts down), a second one stops at once. Written straight to
        # stderr: a signal handler must not wait for the logging module's locks.
        if stop.is_set():
            _say("Stopping at once: the app's lifespan shutdown is skipped")
            os._exit(128 + signum)  # 130 after Ctrl-C
        stop.set()
        request = server.in_flight
        waiting = (
            f"waiting for {request.method} {request.target} to finish, then " if request else ""
        )
        _say(f"Shutting down: {waiting}the app's lifespan shutdown (Ctrl-C again to stop at once)")
        if signum == signal.SIGTERM:
            # A supervisor's SIGTERM is followed by a SIGKILL: end within a grace period.
            watchdog = threading.Timer(args.shutdown_grace, _grace_over, (args.shutdown_grace,))
            watchdog.daemon = True
            watchdog.start()

    previous: dict[int, Any] = {}
    try:
        function.start()
        previous = {
            signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)
        }
        if function.mangum is not None and args.blocked_loop_warning > 0:
            watch = threading.Thread(
                target=_watch_the_loop,
                args=(server, function.mangum, args.blocked_loop_warning, stop),
                name="mangum_like-loop-watch",
                daemon=True,
            )
            watch.start()
        thread = threading.Thread(target=server.serve_forever, name="mangum_like-serve")
        thread.start()
        if mode == "response_stream":
            _explain_streaming(server)
        streamed = ", responses streamed," if server.streaming is not None else ""
        print(
            f"Serving {args.target} as {FORMATS[args.format]} events{streamed} on {server.url} "
            "(Ctrl-C to stop)",
            flush=True,
        )
        try:
            while not stop.is_set():
                stop.wait(0.2)
        finally:
            server.shutdown()
            thread.join()
    finally:
        server.server_close()
        with server.invocation:
            function.stop()
        # Restored only now: a second signal must not cut the lifespan shutdown short.
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    logger.info("Stopped; the app's lifespan has shut down")
    return 0


def _say(line: str) -> None:
    with contextlib.suppress(OSError):
        sys.stdout.flush()
        os.write(sys.stderr.fileno(), f"{line}\n".encode())


def _grace_over(seconds: float) -> None:
    _say(f"Stopping at once: the {seconds:g} s grace period after SIGTERM is over")
    os._exit(128 + signal.SIGTERM)


# -- invoke and event -----------------------------------------------------------------------------


def _synthesised(args: argparse.Namespace) -> dict[str, Any]:
    fmt = args.format or "v2"
    _check_stage(fmt, args.stage)
    body: bytes = b""
    if args.body is not None:
        if args.body.startswith("@"):
            try:
                body = Path(args.body[1:]).read_bytes()
            except OSError as exc:
                raise CLIError(f"Cannot read the body file {args.body[1:]!r}: {exc}") from exc
        else:
            body = args.body.encode("utf-8")
    path = args.path if args.path.startswith("/") else "/" + args.path
    if args.stage:
        path = f"/{args.stage}{path}"  # the execute-api URL starts with the stage
    request = sample_request(fmt, args.method, path, args.header, body)
    return build_event(fmt, request, stage=args.stage)


def _event_file(name: str) -> str:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"Cannot read the event file {name!r}: {exc.strerror or exc}") from exc
    try:
        json.loads(text)
    except ValueError as exc:
        source = "standard input" if name == "-" else repr(name)
        raise CLIError(f"The event in {source} is not valid JSON: {exc}") from exc
    return text


def _invoke(args: argparse.Namespace) -> int:
    synthesis = [
        option
        for option, value in (
            ("--method", args.method != "GET"),
            ("--path", args.path != "/"),
            ("--header", bool(args.header)),
            ("--body", args.body is not None),
            ("--format", args.format is not None),
            ("--stage", args.stage is not None),
        )
        if value
    ]
    if args.event is not None and synthesis:
        raise CLIError(
            f"{', '.join(synthesis)} build an event; they cannot be combined with EVENT_FILE"
        )
    payload = _event_file(args.event) if args.event is not None else json.dumps(_synthesised(args))
    out = sys.stdout
    # What the function prints goes to Lambda's logs, not into the result: here, to stderr,
    # so that standard output holds the result's JSON alone.
    with contextlib.redirect_stdout(sys.stderr):
        function = Function.load(args.target, base_path=args.base_path, backend=args.backend)
        try:
            function.start()
            context = LambdaContext.local(args.timeout)
            try:
                result = invoke(function, payload, context)
            except InvocationError as exc:
                result = exc.as_result(context.aws_request_id)
                status = 1
            else:
                status = 0
        finally:
            function.stop()
    print(json.dumps(result, indent=2), file=out)
    return status


def _event(args: argparse.Namespace) -> int:
    print(json.dumps(_synthesised(args), indent=2))
    return 0


# -- the command line -----------------------------------------------------------------------------


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _non_negative_seconds(text: str) -> float:
    return 0.0 if text.strip() in ("0", "0.0") else _seconds(text)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return port


def _stage(text: str) -> str:
    stage = text.strip("/")
    if not stage or "/" in stage or stage == "$default":
        raise argparse.ArgumentTypeError(
            f"expected a stage name such as Prod (no slashes; $default is the default), "
            f"got {text!r}"
        )
    return stage


def _parser() -> argparse.ArgumentParser:
    formats = ", ".join(f"{name} ({text})" for name, text in FORMATS.items())
    parser = argparse.ArgumentParser(
        prog="mangum-like",
        description="Run an ASGI app or a Lambda handler locally, as AWS Lambda runs it.",
    )
    parser.add_argument("--version", action="version", version=f"mangum-like {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def target(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "target",
            metavar="MODULE:ATTR",
            help="an ASGI app, a Mangum handler or a def handler(event, context), "
            "such as app.main:app; the current directory is on sys.path",
        )

    def handler_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--base-path",
            help="the app's api_gateway_base_path, as on a custom-domain API mapping "
            "(an ASGI app only)",
        )
        sub.add_argument(
            "--backend", choices=("asyncio", "trio"), help="the event loop (an ASGI app only)"
        )
        sub.add_argument(
            "--timeout",
            type=_seconds,
            default=30.0,
            help="the function timeout the context counts down from (default: 30 seconds)",
        )

    def log_level(sub: argparse.ArgumentParser, default: str) -> None:
        sub.add_argument(
            "--log-level",
            choices=LOG_LEVELS,
            default=default,
            help=f"the root logger's level, for the app's own log lines (default: {default})",
        )

    def event_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--method", default="GET", type=str.upper, help="default: GET")
        sub.add_argument("--path", default="/", help="the path and query, such as /items?q=1")
        sub.add_argument(
            "--header",
            "-H",
            action="append",
            type=_header,
            default=[],
            metavar="'NAME: VALUE'",
            help="a request header; repeat for more",
        )
        sub.add_argument("--body", help="the request body; @FILE reads it from a file")
        sub.add_argument(
            "--stage",
            type=_stage,
            help="(v1, v2) the API stage the URL starts with, as on the execute-api endpoint",
        )

    serve = commands.add_parser(
        "serve",
        help="serve the app over HTTP, each request an event of the chosen format",
        description="Serve the app over HTTP on 127.0.0.1: each request becomes an event of "
        f"--format, goes through the handler, and the result becomes the response. {formats}.",
    )
    target(serve)
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument(
        "--reload",
        action="store_true",
        help="restart the server when a .py file under the current directory changes",
    )
    serve.add_argument("--port", type=_port, default=8000, help="default: 8000; 0 picks one")
    serve.add_argument("--format", choices=tuple(FORMATS), default="v2", help="default: v2")
    serve.add_argument(
        "--stage",
        type=_stage,
        help="(v1, v2) serve the API's execute-api URLs, which start with this stage",
    )
    serve.add_argument(
        "--invoke-mode",
        choices=INVOKE_MODES,
        help="response_stream: stream each response to the client as the app sends it "
        "(chunked), as a function URL in RESPONSE_STREAM mode or a REST API in STREAM mode "
        f"does (formats {', '.join(STREAMED)}); default: ${INVOKE_MODE_ENV}, else buffered",
    )
    handler_options(serve)
    serve.add_argument(
        "--blocked-loop-warning",
        type=_non_negative_seconds,
        default=0.5,
        metavar="SECONDS",
        help="warn when a request keeps the event loop from running this long (default: 0.5; "
        "0 turns it off)",
    )
    serve.add_argument(
        "--shutdown-grace",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="after SIGTERM, how long the request in flight and the lifespan shutdown may take "
        "before the server stops at once (default: 10)",
    )
    log_level(serve, "info")
    serve.set_defaults(run=_serve)

    invoke_parser = commands.add_parser(
        "invoke",
        help="run one event through the handler and print the result as JSON",
        description="Run one event through the handler and print the result as JSON. The "
        "event comes from EVENT_FILE, from standard input with -, or is built from --method, "
        "--path, --header and --body in --format (default v2).",
    )
    target(invoke_parser)
    invoke_parser.add_argument("event", nargs="?", metavar="EVENT_FILE | -")
    invoke_parser.add_argument("--format", choices=tuple(FORMATS), help="default: v2")
    event_options(invoke_parser)
    handler_options(invoke_parser)
    log_level(invoke_parser, "warning")
    invoke_parser.set_defaults(run=_invoke)

    event_parser = commands.add_parser(
        "event",
        help="print a sample event of a format",
        description=f"Print a sample event, for invoke, sam local invoke or the Lambda "
        f"console. Formats: {formats}.",
    )
    event_parser.add_argument("format", choices=tuple(FORMATS), metavar="FORMAT")
    event_options(event_parser)
    event_parser.set_defaults(run=_event)
    return parser


LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _setup_logging(level: str | None) -> None:
    # The CLI's own lines (its access line, warnings) go to stderr; the app's and the adapter's
    # through the root logger, at --log-level (as uvicorn's --log-level sets it), unless the
    # user configured logging.
    if not logger.handlers:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(stream)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    if not logging.root.handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    if level is not None:
        logging.root.setLevel(level.upper())
    elif logging.root.level == logging.NOTSET:
        logging.root.setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``mangum-like`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.argv = argv
    _setup_logging(getattr(args, "log_level", None))
    try:
        status: int = args.run(args)
    except CLIError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`mangum-like event v2 | head`): say nothing more, and keep the
        # interpreter's final flush of stdout from failing again.
        with contextlib.suppress(AttributeError, OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return status
