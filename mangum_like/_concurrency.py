"""Many invocations in flight in one execution environment: the runtime loop on Lambda Managed
Instances.

On Lambda Managed Instances an execution environment takes up to ``AWS_LAMBDA_MAX_CONCURRENCY``
invocations at once: the Runtime API answers that many ``GET .../invocation/next`` calls
concurrently, the environment is never frozen between invocations, and Lambda enforces no
per-invocation timeout (developer guide, "Lambda Managed Instances", "Lambda Managed Instances
runtimes"). ``MANGUM_LIKE_CONCURRENCY`` chooses how ``python -m mangum_like.runtime`` serves
them:

- ``loop`` (the default): N pollers, threads of this one process, each with its own kept-alive
  connection to the Runtime API, take invocations as they come. A Mangum handler runs them all
  on its one event loop: one lifespan, one ``state``, the app's pools shared; each invocation
  has its own context, deadline guard, access line and error answer. A plain
  ``handler(event, context)`` runs in the pollers' threads, N at a time.
- ``process``: N worker processes, forked before the handler is imported, each importing it
  and serving one invocation at a time, as the official client does; each has its own
  lifespan. The no-op extension is registered once, by this parent, and the SIGTERM that ends
  the environment is passed on to every worker, so that each runs its lifespan shutdown.

A poller or worker that fails is logged and replaced; the others keep serving.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from types import FrameType

logger = logging.getLogger("mangum_like.runtime")

MAX_CONCURRENCY_ENV = "AWS_LAMBDA_MAX_CONCURRENCY"
CONCURRENCY_ENV = "MANGUM_LIKE_CONCURRENCY"
_MODES = ("loop", "process")
#: The exit status of a worker process whose handler could not be loaded.
INIT_FAILED = 70
_TRACE_ID = "_X_AMZN_TRACE_ID"
_RETRY_FIRST, _RETRY_MAX = 0.1, 2.0  # seconds before a failed poller or worker is replaced


def concurrency_settings() -> tuple[int, str]:
    """How many invocations the environment takes at once, and the mode that serves them."""
    from ._lambda.errors import FaultError

    raw = (os.environ.get(MAX_CONCURRENCY_ENV) or "").strip()
    mode = (os.environ.get(CONCURRENCY_ENV) or "loop").strip().lower()
    if mode not in _MODES:
        raise FaultError(
            "Runtime.InvalidConcurrency",
            f"{CONCURRENCY_ENV} must be one of {', '.join(_MODES)}, got {mode!r}",
        )
    if not raw:
        return 1, mode
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise FaultError(
            "Runtime.InvalidConcurrency",
            f"{MAX_CONCURRENCY_ENV} must be a whole number of at least 1, got {raw!r}",
        )
    return count, mode


# -- loop: N pollers, one event loop ------------------------------------------------------------


def serve_on_one_loop(
    address: str,
    handler: Callable[[Any, Any], Any],
    count: int,
    invoke_mode: str,
    ensure_ascii: bool,
) -> NoReturn:
    """Serve up to ``count`` invocations at once with ``count`` pollers; never returns."""
    from ._adapter import Mangum
    from ._lambda.handler import MANGUM, handler_kind

    if handler_kind(handler) == MANGUM:
        # The loop runs in a thread of its own from now on, so that every poller can hand it
        # an invocation and wait for its own. (A Mangum inside a wrapper moves its loop there
        # itself, at the first call from a second poller.)
        assert isinstance(handler, Mangum)
        handler._environment.runtime.detach()
    # Process-wide, so right for no invocation once several run: each one's trace id is its
    # context's ``xray_trace_id``.
    os.environ.pop(_TRACE_ID, None)
    for index in range(count):
        threading.Thread(
            target=_poll,
            args=(address, handler, invoke_mode, ensure_ascii),
            name=f"mangum_like-poller-{index + 1}",
            daemon=True,
        ).start()
    # The main thread stays free for signals: SIGTERM runs lifespan shutdown here.
    forever = threading.Event()
    while True:
        forever.wait()


def _poll(
    address: str, handler: Callable[[Any, Any], Any], invoke_mode: str, ensure_ascii: bool
) -> None:
    """One poller: take invocations one at a time; on a failure, log it and start afresh."""
    from ._lambda.rapi import Connection
    from .runtime import RuntimeLoop

    retry = _RETRY_FIRST
    while True:
        connection = Connection(address)
        loop = RuntimeLoop(connection, handler, invoke_mode, ensure_ascii, concurrent=True)
        try:
            loop.run()
        except Exception as exc:
            if loop.served:
                retry = _RETRY_FIRST
            logger.error(
                "%s failed (%r) after %d invocations; a new one takes its place in %.1f s",
                threading.current_thread().name,
                exc,
                loop.served,
                retry,
            )
        finally:
            connection.close()
        time.sleep(retry)
        retry = min(retry * 2, _RETRY_MAX)


# -- process: N workers -------------------------------------------------------------------------


def serve_in_processes(address: str, count: int, serve: Callable[[], NoReturn]) -> NoReturn:
    """Fork ``count`` workers that each run ``serve``; pass SIGTERM on to them; never returns."""
    supervisor = _Supervisor(address, count, serve)
    supervisor.run()


class _Supervisor:
    """The parent of the ``process`` mode's workers."""

    def __init__(self, address: str, count: int, serve: Callable[[], NoReturn]) -> None:
        self.address = address
        self.count = count
        self.serve = serve
        self.workers: dict[int, float] = {}  # pid -> when it started (monotonic)
        self.terminating: int | None = None

    def run(self) -> NoReturn:
        from ._environment import PROCESS

        # The no-op extension, registered once for every worker before any asks for an
        # invocation (registration closes with the Init phase); the workers inherit it as tried
        # and register nothing.
        PROCESS.extension_tried = True
        holder = PROCESS.claim_extension(self.address)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        for _ in range(self.count):
            self._fork()
        if holder is not None:
            # Its event/next long-poll, which ends Lambda's Init phase for it, once the workers
            # exist (a thread is best started after the forks).
            holder.start()
        retry = _RETRY_FIRST
        while True:
            pid, status = os.waitpid(-1, 0)
            started = self.workers.pop(pid, None)
            if started is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if self.terminating is not None:
                if not self.workers:
                    logging.shutdown()
                    os._exit(128 + self.terminating)
                continue
            if code == INIT_FAILED:
                # The handler cannot be loaded (the worker posted the init error): the
                # environment cannot serve, as with one process; Lambda starts a fresh one.
                self._stop_all(signal.SIGKILL)
                logging.shutdown()
                os._exit(1)
            if time.monotonic() - started > 10:
                retry = _RETRY_FIRST
            logger.error(
                "Worker process %d ended with status %d; a new one takes its place in %.1f s",
                pid,
                code,
                retry,
            )
            time.sleep(retry)
            retry = min(retry * 2, _RETRY_MAX)
            if self.terminating is None:
                self._fork()

    def _fork(self) -> None:
        with warnings.catch_warnings():
            # A replacement is forked while the extension's thread sleeps in recv(): the worker
            # never touches what that thread holds.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                self.serve()
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                logger.exception("The worker process failed")
            finally:
                logging.shutdown()
                os._exit(status)
        self.workers[pid] = time.monotonic()

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if self.terminating is not None:
            return
        self.terminating = signum
        logger.info(
            "SIGTERM received: passing it on to %d worker processes for their lifespan shutdown",
            len(self.workers),
        )
        self._stop_all(signal.SIGTERM)
        if not self.workers:
            logging.shutdown()
            os._exit(128 + signum)

    def _stop_all(self, signum: int) -> None:
        for pid in list(self.workers):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                self.workers.pop(pid, None)
