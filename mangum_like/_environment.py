"""The life of one Lambda execution environment: start once, stop once.

AWS Lambda developer guide, "Understanding the Lambda execution environment lifecycle": an
environment goes through Init (the handler module is imported), many Invokes (one at a time,
frozen in between), then Shutdown. What belongs to each phase lives here, apart from the
per-invocation path:

- lifespan startup, once: at the first invocation, or at init with ``handler.startup()``; after
  the restore under SnapStart, never before the snapshot;
- lifespan shutdown, once, whichever comes first: SIGTERM, interpreter exit, ``shutdown()``,
  leaving ``with``;
- the no-op internal extension without which Lambda sends no SIGTERM, and the SIGTERM handler;
- the quiet release of a handler that is dropped without ``shutdown()``.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from ._exceptions import LifespanFailure, LifespanUnsupported
from ._lifespan import COMPLETE, UNSUPPORTED, LifespanCycle

if TYPE_CHECKING:
    from types import FrameType

    from ._http import HTTPCycle
    from ._types import ASGIApp, Runtime

logger = logging.getLogger("mangum_like")

# Extension names are unique within a function. With internal extensions only, Lambda's Shutdown
# phase lasts 500 ms, then SIGKILL ("Extensions API", "Shutdown phase"): the default
# shutdown_timeout of 0.4 s fits in it.
EXTENSION_NAME = "mangum-like-graceful-shutdown"
_SNAP_START = "snap-start"
# Set by Lambda inside an execution environment only; _lambda.rapi (and http.client with it)
# loads then.
_RUNTIME_API_ENV = "AWS_LAMBDA_RUNTIME_API"
_TRACE_ID = "_X_AMZN_TRACE_ID"  # set by the runtime for each invocation (Lambda env. variables)
# Lambda Managed Instances: how many invocations the environment serves at once.
_MAX_CONCURRENCY_ENV = "AWS_LAMBDA_MAX_CONCURRENCY"
_PR_SET_PDEATHSIG = 1  # prctl(2) option, <linux/prctl.h>
# How long a worker process waits for the sibling that registers the extension: the
# registration's own timeout.
_SIBLING_WAIT = 2.0


class Environment:
    """The lifespan, loop and exit hooks of one handler, started and stopped at most once each."""

    def __init__(
        self,
        app: ASGIApp,
        lifespan: str,
        runtime: Runtime,
        startup_timeout: float | None,
        shutdown_timeout: float | None,
        grace: float,
    ) -> None:
        self.app = app
        self.lifespan = lifespan
        self.runtime = runtime
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self.grace = grace  # seconds an interrupted request has to end after its disconnect
        self.started = False
        self.state: dict[str, Any] = {}
        # The invocations in flight on the loop: what SIGTERM disconnects. A set, so that
        # nothing here assumes one at a time.
        self.in_flight: set[HTTPCycle] = runtime.in_flight
        self.terminating: tuple[int, FrameType | None] | None = None
        self.snapshot_pending = False
        self._cycle: LifespanCycle | None = None
        self._task: Any = None
        self._starting = threading.Lock()
        if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == _SNAP_START:
            self._defer_to_restore()

    # -- startup --------------------------------------------------------------------------------

    def _defer_to_restore(self) -> None:
        # SnapStart (developer guide, "Improving startup performance with Lambda SnapStart"):
        # the snapshot is taken after Init, and connections opened before it are restored
        # stale in every environment made from it. So lifespan startup waits for the restore:
        # the runtime hooks run it right after, or the first invocation does.
        self.snapshot_pending = True
        try:
            hooks = importlib.import_module("snapshot_restore_py")
        except ImportError:
            logger.debug(
                "SnapStart: snapshot_restore_py is not installed; lifespan startup runs at the "
                "first invocation after the restore"
            )
            return
        hooks.register_after_restore(self._after_restore)

    def _after_restore(self) -> None:
        self.snapshot_pending = False
        # A failure is logged by startup(); the first invocation tries again and reports it.
        with contextlib.suppress(LifespanFailure):
            self.startup()

    def startup(self, *, invocation: bool = False) -> None:
        """Run lifespan startup unless it ran already; ``LifespanFailure`` when it fails."""
        if self.started:
            return
        # The first invocations of several pollers (the runtime's concurrent mode) arrive
        # together: one runs startup, the others wait for it.
        with self._starting:
            if not self.started:
                self._startup(invocation)

    def _startup(self, invocation: bool) -> None:
        if self.snapshot_pending:
            if not invocation:
                logger.debug(
                    "SnapStart: lifespan startup deferred until after the snapshot is restored"
                )
                return
            self.snapshot_pending = False
        self._register()
        if self.lifespan == "off":
            self.started = True
            return
        runtime = self.runtime
        state: dict[str, Any] = {}
        cycle = LifespanCycle(self.app, state, runtime)
        task = runtime.spawn(cycle.main)
        if not runtime.run(cycle.wait_started, self.startup_timeout):
            runtime.cancel(task)
            logger.error(
                "Lifespan startup did not complete within %s s (startup_timeout); cancelled it",
                self.startup_timeout,
            )
            raise LifespanFailure(
                f"lifespan startup did not complete within {self.startup_timeout} s "
                "(startup_timeout); the next invocation tries again"
            )
        if cycle.outcome == COMPLETE:
            self.state, self._cycle, self._task = state, cycle, task
            self.started = True
            return
        reason = cycle.message or (repr(cycle.error) if cycle.error else "")
        if cycle.outcome == UNSUPPORTED and self.lifespan == "auto":
            logger.info(
                "The app does not support the ASGI lifespan protocol (%s); carrying on without "
                "it. Pass lifespan='off' to skip the attempt.",
                reason,
            )
            self.started = True
            return
        if not cycle.finished:
            runtime.cancel(task)
        if cycle.outcome == UNSUPPORTED:
            logger.error(
                "lifespan='on' but the app does not support the ASGI lifespan protocol (%s)",
                reason,
            )
            raise LifespanUnsupported(
                "lifespan='on' but the app does not support the ASGI lifespan protocol "
                f"({reason}); use lifespan='auto' or 'off'"
            ) from cycle.error
        # Only a failure at an invocation leaves the environment to try again: at Init (or
        # in a command) the exception ends it.
        again = "; the next invocation tries again" if invocation else ""
        error = cycle.error
        if error is not None:
            # One traceback: the app's own (a failed message often repeats it as text).
            summary = repr(error)
            logger.error("Lifespan startup failed: %s%s", summary, again, exc_info=error)
        else:
            logger.error("Lifespan startup failed: %s%s", reason, again)
            summary = reason
        raise LifespanFailure(f"lifespan startup failed: {summary}{again}") from error

    def _register(self) -> None:
        _LIVE.add(self)
        PROCESS.hook_exit()

    # -- shutdown -------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Run lifespan shutdown (bounded by ``shutdown_timeout``) and close the loop."""
        self._unregister()
        cycle, self._cycle = self._cycle, None
        runtime = self.runtime
        if cycle is not None:
            if not runtime.run(cycle.stop, self.shutdown_timeout):
                logger.warning(
                    "Lifespan shutdown did not complete within %s s (shutdown_timeout); "
                    "cancelled it",
                    self.shutdown_timeout,
                )
            elif cycle.shutdown_outcome != COMPLETE:
                logger.error(
                    "Lifespan shutdown failed: %s",
                    cycle.message
                    or (
                        repr(cycle.error) if cycle.error else "the app returned without completing"
                    ),
                    exc_info=cycle.error,
                )
            else:
                logger.debug("Lifespan shutdown complete")
        self.started = False
        self.state = {}
        self._task = None
        runtime.close()

    def _unregister(self) -> None:
        _LIVE.discard(self)

    def release(self) -> None:
        """Free the loop, its thread and their descriptors of a handler that was dropped.

        The lifespan is cancelled, not shut down: this runs from the garbage collector, at any
        point of any thread, where waiting on the app is no option.
        """
        self._unregister()
        self._cycle = self._task = None
        self.started = False
        try:
            self.runtime.close_from_anywhere()
        except Exception:  # a finaliser must not raise; say what was lost
            logger.debug("Releasing a dropped handler's loop failed", exc_info=True)

    # -- SIGTERM --------------------------------------------------------------------------------

    def interrupt(self) -> bool:
        """End the invocations in flight, disconnect first; whether shutdown must wait for them."""
        in_flight = list(self.in_flight)
        for cycle in in_flight:
            self.runtime.expire(cycle, self.grace)
        if in_flight:
            return True
        # The loop runs right under this signal handler (the lifespan startup of a first
        # invocation): shutdown cannot run inside it, and follows the invocation instead.
        return self.runtime.running_here()


# Started environments of this process: what SIGTERM and interpreter exit shut down.
_LIVE: set[Environment] = set()


def shutdown_at_exit() -> None:
    """Interpreter exit: lifespan shutdown of every environment still live."""
    for environment in list(_LIVE):
        try:
            environment.shutdown()
        except Exception:
            logger.exception("Lifespan shutdown at interpreter exit failed")


class _Process:
    """What the process has once, whatever the number of handlers: extension, SIGTERM handler."""

    def __init__(self) -> None:
        self.extension: str | None = None  # its identifier, once registered
        self.extension_tried = False
        # LMI worker process that registered the extension for its siblings: held for life.
        self.extension_claim: Any = None
        self.signal_installed = False
        self.previous: Any = None
        self.terminated = False
        self.handed_over = False  # a SIGTERM went on to terminate()
        self._handing_over = threading.Lock()
        self.exit_hooked = False

    def hook_exit(self) -> None:
        """Have interpreter exit shut down the environments still live, once per process.

        The hook is one of ``threading``'s own exit hooks (``threading._register_atexit``, the
        one ``concurrent.futures`` uses for its workers), which CPython runs when the main
        thread is done and *before* it joins the non-daemon threads; ``atexit`` runs after
        that join. An app whose lifespan keeps worker threads until its shutdown (anyio's
        ``to_thread`` in a lifespan task group, the MCP SDK's session manager) would otherwise
        hold the process for ever: its threads wait for the shutdown that waits for them.
        Where that hook is missing or closed (exit has begun), ``atexit`` stands in.
        """
        if self.exit_hooked:
            return
        self.exit_hooked = True
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            try:
                register(shutdown_at_exit)
                return
            except RuntimeError:  # "can't register atexit after shutdown"
                pass
        atexit.register(shutdown_at_exit)

    def prepare(self, graceful_shutdown: bool) -> None:
        """At handler construction: inside Lambda, make sure SIGTERM arrives and is handled."""
        address = os.environ.get(_RUNTIME_API_ENV)
        if not address:
            return  # not inside Lambda: nothing to register, no signal handler to install
        self.install_signal_handler()
        if not graceful_shutdown or self.extension_tried:
            return
        self.extension_tried = True
        if _TRACE_ID in os.environ:
            # The runtime sets the X-Ray trace id for each invocation, never during Init: a
            # handler built now (inside a function, at the first call) is past registration.
            logger.debug(
                "Handler built during an invocation, after the Init phase: the no-op extension "
                "cannot register any more, so Lambda sends no SIGTERM and lifespan shutdown "
                "does not run at the end of the environment; build the handler at module level"
            )
            return
        parent = _lmi_worker_parent()
        if parent is None:
            self.register_extension(address)
        else:
            self.register_for_workers(address, parent)

    def register_for_workers(self, address: str, parent: int) -> None:
        """One of the worker processes the official client forks on Lambda Managed Instances,
        each importing the handler: the first of them registers the extension for the whole
        environment, and the others wait until it has, so that none asks for an invocation
        (which may end Init, and registration with it) before.

        Extension names are unique in an environment: a second registration would be refused.
        The siblings agree through a Unix socket name in Linux's abstract namespace, unique to
        the environment: the one that binds it registers, then listens on it to say it is done.
        """
        import errno
        import socket
        import time

        name = f"\0mangum_like-extension-{address}-{parent}"[:107]
        claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + _SIBLING_WAIT
        while True:
            try:
                claim.bind(name)
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    # No abstract names (not Linux): every worker tries, and the name taken
                    # already, Lambda refuses all but the first (logged at DEBUG).
                    claim.close()
                    self.register_extension(address)
                    return
            if _sibling_listens(name):
                claim.close()
                logger.debug(
                    "Another worker process of this environment registered the no-op extension"
                )
                return
            if time.monotonic() >= deadline:
                claim.close()
                logger.debug(
                    "The worker process registering the no-op extension did not finish within "
                    "%s s; going on without waiting for it",
                    _SIBLING_WAIT,
                )
                return
            time.sleep(0.005)
        self.register_extension(address)
        claim.listen(socket.SOMAXCONN)
        self.extension_claim = claim

    def register_extension(self, address: str) -> None:
        holder = self.claim_extension(address)
        if holder is not None:
            holder.start()

    def claim_extension(self, address: str) -> threading.Thread | None:
        """Register the no-op extension; the thread that is to hold its ``event/next``
        long-poll, not started yet (the runtime's process mode forks its workers first), or
        ``None`` when registration failed (logged)."""
        from ._lambda.rapi import Connection, RuntimeAPIError, register_extension

        connection = Connection(address, timeout=2.0)
        try:
            identifier = register_extension(connection, EXTENSION_NAME, [])
        except RuntimeAPIError as exc:
            connection.close()
            if exc.status == 403:
                logger.debug(
                    "The Extensions API refused the no-op extension (%s): the handler was built "
                    "after the Init phase (or another process of the environment registered "
                    "it), so Lambda sends no SIGTERM for it; build it at module level for "
                    "lifespan shutdown to run",
                    exc,
                )
            else:
                logger.warning(
                    "Could not register the no-op extension that makes Lambda send SIGTERM "
                    "(%s); lifespan shutdown will not run at the end of this environment",
                    exc,
                )
            return None
        except Exception as exc:  # unreachable, or not speaking HTTP: never break the handler
            connection.close()
            logger.warning(
                "Could not reach the Extensions API at %s (%s); lifespan shutdown will not run "
                "at the end of this environment",
                address,
                exc,
            )
            return None
        self.extension = identifier
        connection.http.timeout = None
        if connection.http.sock is not None:
            connection.http.sock.settimeout(None)
        # The extension subscribes to no event, so its event/next call stays open for good:
        # Lambda counts it as done with Init, and the thread sleeps in recv() at no cost.
        logger.debug("Registered the no-op extension %r: SIGTERM will arrive", EXTENSION_NAME)
        return threading.Thread(
            target=_hold_extension,
            args=(connection, identifier),
            name="mangum_like-extension",
            daemon=True,
        )

    def install_signal_handler(self) -> None:
        if self.signal_installed:
            return
        if threading.current_thread() is not threading.main_thread():
            logger.debug(
                "Not in the main thread: the SIGTERM handler that runs lifespan shutdown is not "
                "installed (signal handlers can only be set from the main thread)"
            )
            return
        self.previous = signal.signal(signal.SIGTERM, self.on_sigterm)
        self.signal_installed = True
        parent = _lmi_worker_parent()
        if parent is not None:
            _sigterm_when_parent_dies(parent)

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        logger.info("SIGTERM received: the execution environment is ending")
        live = list(_LIVE)
        # Marked first: an invocation that ends from now on, on any thread, sees it, and the
        # last one in flight hands over to shutdown.
        for environment in live:
            environment.terminating = (signum, frame)
        if any([environment.interrupt() for environment in live]):  # noqa: C419 (interrupt them all)
            # Invocations are running on a loop this thread drives or waits for, or on other
            # threads: they see their disconnect now, and shutdown follows the last of them.
            return
        self.terminate_once(signum, frame)

    def terminate_once(self, signum: int, frame: FrameType | None) -> None:
        """``terminate`` for the first of the threads that find the last invocation ended (the
        signal handler, or the invocations ending on several threads at once)."""
        with self._handing_over:
            if self.handed_over:
                return
            self.handed_over = True
        self.terminate(signum, frame)

    def terminate(self, signum: int, frame: FrameType | None) -> None:
        """Shut every environment down (once), then do what SIGTERM did before us."""
        if not self.terminated:
            self.terminated = True
            for environment in list(_LIVE):
                try:
                    environment.shutdown()
                except Exception:
                    logger.exception("Lifespan shutdown on SIGTERM failed")
        previous = self.previous
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            # The default action ends the process at once; so do we, with the status a shell
            # reports for it, once the logs are out.
            logging.shutdown()
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            os._exit(128 + signum)


def _lmi_worker_parent() -> int | None:
    """The runtime process's id when this process is one of the workers the official client
    forks on Lambda Managed Instances (``multiprocessing``, each importing the handler itself);
    ``None`` otherwise, our own runtime's workers included (its parent registers the extension
    and passes SIGTERM on)."""
    if not os.environ.get(_MAX_CONCURRENCY_ENV):
        return None
    multiprocessing = sys.modules.get("multiprocessing")
    parent = multiprocessing.parent_process() if multiprocessing is not None else None
    return None if parent is None else int(parent.pid)


def _sigterm_when_parent_dies(parent: int) -> None:
    """Have the kernel send this worker SIGTERM when its parent, the runtime process, ends.

    At the end of the environment Lambda sends SIGTERM to the runtime process. The official
    client's does not pass it on to its workers: it dies of it at once, and its workers would
    be left to the SIGKILL that ends the environment, their lifespan shutdown never run. With
    ``prctl(PR_SET_PDEATHSIG)`` (Linux) its death is their SIGTERM, within the Shutdown phase.
    The signal comes when the thread that forked the worker ends: the client forks from its main
    thread, which then waits for the workers as long as the process lives.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        failed = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0
    except (OSError, AttributeError):
        failed = True
    if failed:
        logger.debug(
            "Could not ask for SIGTERM at the runtime process's end (prctl PR_SET_PDEATHSIG): "
            "this worker's lifespan shutdown runs only if Lambda signals it itself"
        )
        return
    if os.getppid() != parent:
        # The runtime process ended before the request took effect: its SIGTERM, now.
        os.kill(os.getpid(), signal.SIGTERM)


def _sibling_listens(name: str) -> bool:
    """Whether a worker process listens on the abstract socket ``name`` (it has registered)."""
    import errno
    import socket

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)
    try:
        # Refused while the name is bound but not listened on yet, or gone; a full backlog
        # (EAGAIN) is listening too.
        return probe.connect_ex(name) in (0, errno.EAGAIN)
    finally:
        probe.close()


def _hold_extension(connection: Any, identifier: str) -> None:
    from ._lambda.rapi import next_extension_event

    try:
        while True:
            event = next_extension_event(connection, identifier)
            if event.get("eventType") == "SHUTDOWN":
                return
    except Exception as exc:
        logger.debug("The no-op extension's event/next long-poll ended: %r", exc)
    finally:
        connection.close()


PROCESS = _Process()
