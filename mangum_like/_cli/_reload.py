"""``serve --reload``: the server in a child process, restarted when a source file changes."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

logger = logging.getLogger("mangum_like.cli")


# Directories never searched for changed sources: virtual environments hold a pyvenv.cfg.
_UNWATCHED = frozenset({"__pycache__", "node_modules", "site-packages"})


def _sources(root: Path) -> dict[str, int]:
    """Modification times of the .py files under ``root``, outside hidden dirs and venvs."""
    found: dict[str, int] = {}
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [
            name
            for name in subdirs
            if not name.startswith(".")
            and name not in _UNWATCHED
            and not os.path.exists(os.path.join(directory, name, "pyvenv.cfg"))
        ]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                with contextlib.suppress(OSError):  # removed since the listing
                    found[path] = os.stat(path).st_mtime_ns
    return found


def _reap(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _supervise(argv: list[str]) -> int:
    """``serve --reload``: the server runs in a child process, restarted on source changes.

    A new process (not a re-import) gives every change a clean start: a fresh module state and
    a fresh lifespan, as a new Lambda execution environment would.
    """
    command = [sys.executable, "-m", "mangum_like", *argv]
    root = Path.cwd()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        while not stop.is_set():
            snapshot = _sources(root)
            child = subprocess.Popen(command)
            exited = False
            while not stop.wait(0.5):
                if not exited and child.poll() is not None:
                    exited = True
                    logger.warning(
                        "The server exited with status %d; waiting for a change to restart it",
                        child.returncode,
                    )
                current = _sources(root)
                if current != snapshot:
                    changed = sorted(set(current.items()) ^ set(snapshot.items()))
                    logger.info("%s changed; restarting", changed[0][0])
                    break
            _reap(child)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
