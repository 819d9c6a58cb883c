"""Server-Sent Events from a FastAPI app on Lambda, streamed as they are produced.

Deployed behind a Function URL with ``InvokeMode: RESPONSE_STREAM`` and run by mangum_like's own
runtime loop with ``MANGUM_LIKE_INVOKE_MODE=response_stream`` (``StreamingFunction`` in the
repository's ``template.yaml``): each event reaches the browser the moment the app yields it, the
way an LLM's tokens do, instead of all at once when the function returns.

    curl -N "${STREAMING_FUNCTION_URL}tokens?prompt=hello+streaming+world"

Locally, streamed the same way:
``mangum-like serve examples.sse_streaming.app:handler --format url --invoke-mode response_stream``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from mangum_like import Mangum

app = FastAPI(title="mangum_like SSE streaming example")

# Seconds between two tokens: a language model's pace, roughly.
TOKEN_INTERVAL = 0.05


async def tokens(prompt: str, interval: float) -> AsyncIterator[str]:
    """The words of ``prompt`` as SSE events, one per ``interval``, then a final ``done``."""
    words = prompt.split() or ["(empty prompt)"]
    for index, word in enumerate(words):
        if index:
            await asyncio.sleep(interval)
        yield f"id: {index}\nevent: token\ndata: {json.dumps({'token': word})}\n\n"
    yield f"event: done\ndata: {json.dumps({'tokens': len(words)})}\n\n"


@app.get("/tokens")
async def stream_tokens(
    prompt: str = "hello from a streaming lambda", interval: float = -1.0
) -> StreamingResponse:
    """The prompt's words as a stream of SSE events (``interval`` seconds apart if given)."""
    return StreamingResponse(
        tokens(prompt, TOKEN_INTERVAL if interval < 0 else interval),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache"},
    )


handler = Mangum(app)
