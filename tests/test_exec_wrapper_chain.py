"""Our exec wrapper with another one: Lambda runs one AWS_LAMBDA_EXEC_WRAPPER, so an
observability layer's wrapper (ADOT's /opt/otel-instrument, say) runs through ours, named in
MANGUM_LIKE_EXEC_WRAPPER, or a one-line wrapper of the function's own runs the two in turn.
Either way both must run, and our runtime must serve the invocation: it streams, which the
official client cannot.

The stand-in for the other wrapper does what those wrappers do before they end in
``exec "$@"``: it sets a variable of its own, puts its layer's packages first on PYTHONPATH, and
points _HANDLER at a module of its layer that hands on the function's handler, kept in
ORIG_HANDLER. The runtimes run against the Runtime API emulator, as in test_lambda_runtime.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mangum_like import Mangum
from mangum_like._types import Receive, Scope, Send
from tests.test_lambda_runtime import APPS, SCRIPTS, STREAMING, runtime, split_stream, url_event

OURS = str(SCRIPTS / "exec-wrapper")
HANDLER = "tests.test_exec_wrapper_chain.handler"
STAND_IN_MODULE = "stand_in_otel"

STAND_IN_WRAPPER = f"""#!/bin/sh
# Stands in for an observability layer's exec wrapper (ADOT's /opt/otel-instrument).
set -eu
layer=$(dirname "$0")
export OTEL_SERVICE_NAME="${{OTEL_SERVICE_NAME:-$AWS_LAMBDA_FUNCTION_NAME}}"
export PYTHONPATH="$layer/python${{PYTHONPATH:+:$PYTHONPATH}}"
export ORIG_HANDLER="$_HANDLER"
export _HANDLER={STAND_IN_MODULE}.handler
exec "$@"
"""

STAND_IN_HANDLER_MODULE = '''"""The stand-in layer's handler module: the function's handler,
named in ORIG_HANDLER (a real layer wraps it to trace each call)."""
import importlib
import os

_module, _, _name = os.environ["ORIG_HANDLER"].rpartition(".")
handler = getattr(importlib.import_module(_module), _name)
'''

# Set by the stand-in, or by ours (which must not leave it to the runtime).
SEEN = ("OTEL_SERVICE_NAME", "ORIG_HANDLER", "_HANDLER", "MANGUM_LIKE_EXEC_WRAPPER")


async def report(scope: Scope, receive: Receive, send: Send) -> None:
    """The app of the function: answers, in two chunks, what the wrappers left it."""
    await receive()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    document = {name: os.environ.get(name) for name in SEEN}
    document["first on PYTHONPATH"] = os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]
    document["stand-in module loaded"] = str(STAND_IN_MODULE in sys.modules)
    body = json.dumps(document).encode()
    await send({"type": "http.response.body", "body": body, "more_body": True})
    await send({"type": "http.response.body", "body": b"\n"})


handler = Mangum(report, lifespan="off")


def executable(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def stand_in(tmp_path: Path) -> Path:
    """The other layer, as Lambda would extract it into /opt: its wrapper and its packages."""
    layer = tmp_path / "opt"
    (layer / "python").mkdir(parents=True)
    (layer / "python" / f"{STAND_IN_MODULE}.py").write_text(
        STAND_IN_HANDLER_MODULE, encoding="utf-8"
    )
    executable(layer / "otel-instrument", STAND_IN_WRAPPER)
    return layer


# The managed runtimes' commands, which name no handler: the runtime takes _HANDLER as the
# other wrapper left it.
COMMANDS = {
    "script": ["/var/runtime/bootstrap.py"],
    "module": ["-m", "awslambdaric"],
}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
@pytest.mark.parametrize("composition", ["MANGUM_LIKE_EXEC_WRAPPER", "wrapper script"])
def test_both_wrappers_run_and_our_runtime_serves(
    stand_in: Path, tmp_path: Path, composition: str, command: list[str]
) -> None:
    other = str(stand_in / "otel-instrument")
    env = {**STREAMING, "_HANDLER": HANDLER}
    if composition == "MANGUM_LIKE_EXEC_WRAPPER":
        # AWS_LAMBDA_EXEC_WRAPPER names ours, which runs the other.
        env["MANGUM_LIKE_EXEC_WRAPPER"] = other
        wrapper = OURS
    else:
        # AWS_LAMBDA_EXEC_WRAPPER names the function's own one-line wrapper.
        wrapper = executable(tmp_path / "wrapper", f'#!/bin/sh\nexec {other} {OURS} "$@"\n')
    # Lambda starts the wrapper with the runtime's command as its arguments.
    with runtime([wrapper, sys.executable, *command], env) as emulator:
        invocation = emulator.invoke(url_event("/report"))
        prelude, body = split_stream(invocation)  # streamed: our runtime answered
        assert prelude["statusCode"] == 200
        assert json.loads(body) == {
            "OTEL_SERVICE_NAME": emulator.function_name,
            "ORIG_HANDLER": HANDLER,
            "_HANDLER": f"{STAND_IN_MODULE}.handler",
            "MANGUM_LIKE_EXEC_WRAPPER": None,
            "first on PYTHONPATH": str(stand_in / "python"),
            "stand-in module loaded": "True",
        }
        assert [chunk for _, chunk in invocation.chunks][-2:] == [body[:-1], b"\n"]


def test_our_wrapper_as_the_next_one_does_not_loop() -> None:
    """Named in its own MANGUM_LIKE_EXEC_WRAPPER, ours runs once more, then the runtime."""
    env = {**STREAMING, "_HANDLER": f"{APPS}.streaming.handler", "MANGUM_LIKE_EXEC_WRAPPER": OURS}
    with runtime([OURS, sys.executable, "/var/runtime/bootstrap.py"], env) as emulator:
        prelude, body = split_stream(emulator.invoke(url_event("/cookies")))
        assert (prelude["statusCode"], body) == (201, b"cookies set")


@pytest.mark.parametrize("kind", ["missing", "not executable", "a directory"])
def test_a_next_wrapper_that_cannot_run_is_named(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "otel-instrument"
    if kind == "not executable":
        path.write_text('#!/bin/sh\nexec "$@"\n', encoding="utf-8")
    elif kind == "a directory":
        path.mkdir()
    done = subprocess.run(
        [OURS, sys.executable, "/var/runtime/bootstrap.py"],
        env={**os.environ, "MANGUM_LIKE_EXEC_WRAPPER": str(path)},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert (done.returncode, done.stdout) == (126, "")
    assert done.stderr == (
        f"mangum_like exec-wrapper: MANGUM_LIKE_EXEC_WRAPPER={path} is not an executable file"
        " (give the path of the other wrapper, as AWS_LAMBDA_EXEC_WRAPPER would)\n"
    )
