"""Real Starlette and FastAPI apps through the handler, on the deployments users run.

The routes are declared without any prefix, as the app would be written for uvicorn. The
contract (DESIGN.md section 3): the app routes them whatever stage or API mapping the client
used, and ``url_for`` and FastAPI's docs page give URLs that work from the client.
"""

from __future__ import annotations

import abc
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import anyio
import pytest
from fastapi import FastAPI
from fastapi import HTTPException as FastAPIHTTPException
from starlette.applications import Starlette
from starlette.background import BackgroundTasks
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from mangum_like import Mangum

from .helpers import Context, load_event

MakeHandler = Callable[..., Mangum]

REST_EVENT = "powertools/apigw-rest-v1/getting_started_rest_api_resolver.json"
REST_HOST = "1234567890.execute-api.us-east-1.amazonaws.com"
STAGE_EVENT = "aws-lambda-dotnet/apigw-http-v2/values-get-all-httpapi-v2-with-stage.json"
STAGE_HOST = "uzdrcy3wk7.execute-api.us-east-1.amazonaws.com"
DEFAULT_EVENT = "aws-lambda-go/apigw-http-v2/apigw-v2-request-no-authorizer.json"
CUSTOM_HOST = "api.example.com"


# -- events ---------------------------------------------------------------------------------------


def rest_event(path: str, method: str = "GET") -> dict[str, Any]:
    """A REST API request to stage Prod on the default execute-api endpoint.

    API Gateway gives ``path`` without the stage and ``requestContext.path`` with it.
    """
    event = load_event(REST_EVENT, path=path, httpMethod=method)
    event["requestContext"]["path"] = "/Prod" + path
    event["requestContext"]["httpMethod"] = method
    return event


def stage_event(path: str) -> dict[str, Any]:
    """An HTTP API request to the named stage beta: the stage stays in ``rawPath``."""
    event = load_event(STAGE_EVENT, rawPath="/beta" + path)
    event["requestContext"]["http"]["path"] = "/beta" + path
    return event


def default_event(path: str, method: str = "GET") -> dict[str, Any]:
    """An HTTP API 2.0 request to the $default stage on the execute-api endpoint."""
    event = load_event(DEFAULT_EVENT, rawPath=path)
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    return event


def custom_domain_event(raw_path: str) -> dict[str, Any]:
    """An HTTP API 2.0 request through a custom domain: ``rawPath`` keeps the mapping's path."""
    event = default_event(raw_path)
    event["headers"]["host"] = CUSTOM_HOST
    event["requestContext"]["domainName"] = CUSTOM_HOST
    event["requestContext"]["domainPrefix"] = "api"
    return event


# -- apps -----------------------------------------------------------------------------------------


def describe(request: Request, name: str) -> dict[str, str]:
    return {
        "route": name,
        "root_path": request.scope["root_path"],
        "url": str(request.url),
        "url_for": str(request.url_for(name, **request.path_params)),
        "other": str(request.url_for("item", id="7")),
    }


def starlette_endpoint(name: str) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse(describe(request, name))

    return endpoint


def starlette_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/todos", starlette_endpoint("todos"), name="todos"),
            Route("/api/values", starlette_endpoint("values"), name="values"),
            Route("/items/{id}", starlette_endpoint("item"), name="item"),
            Route("/apiary/x", starlette_endpoint("apiary"), name="apiary"),
        ]
    )


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.get("/todos", name="todos")
    async def todos(request: Request) -> dict[str, str]:
        return describe(request, "todos")

    @app.get("/api/values", name="values")
    async def values(request: Request) -> dict[str, str]:
        return describe(request, "values")

    @app.get("/items/{id}", name="item")
    async def item(id: str, request: Request) -> dict[str, str]:
        return describe(request, "item")

    @app.get("/apiary/x", name="apiary")
    async def apiary(request: Request) -> dict[str, str]:
        return describe(request, "apiary")

    return app


def build_app(framework: str) -> Starlette:
    return starlette_app() if framework == "starlette" else fastapi_app()


def json_body(result: dict[str, Any]) -> Any:
    assert result["isBase64Encoded"] is False
    return json.loads(result["body"])


# -- the three deployments ------------------------------------------------------------------------


class _Deployment(abc.ABC):
    """The same checks for every deployment; subclasses say how the client reaches the app."""

    handler_options: ClassVar[dict[str, Any]] = {}
    prefix = ""
    host = ""
    route = ""  # a route as the app declares it
    route_name = ""

    @abc.abstractmethod
    def event(self, path: str) -> dict[str, Any]:
        """The event of a client request to ``path`` (an app route, without the prefix)."""

    def handler(self, make_handler: MakeHandler, app: Any, backend: str) -> Mangum:
        return make_handler(app, backend=backend, **self.handler_options)

    @pytest.mark.parametrize("framework", ["starlette", "fastapi"])
    def test_route_matches_and_url_for_has_the_prefix(
        self, framework: str, make_handler: MakeHandler, backend: str
    ) -> None:
        handler = self.handler(make_handler, build_app(framework), backend)

        result = handler(self.event(self.route), Context())

        assert result["statusCode"] == 200
        url = f"https://{self.host}{self.prefix}{self.route}"
        assert json_body(result) == {
            "route": self.route_name,
            "root_path": self.prefix,
            "url": url,
            "url_for": url,
            "other": f"https://{self.host}{self.prefix}/items/7",
        }

    def test_fastapi_docs_page_references_the_prefixed_schema(
        self, make_handler: MakeHandler, backend: str
    ) -> None:
        handler = self.handler(make_handler, fastapi_app(), backend)

        result = handler(self.event("/docs"), Context())

        assert result["statusCode"] == 200
        assert result["headers"]["content-type"] == "text/html; charset=utf-8"
        assert result["isBase64Encoded"] is False
        assert f"url: '{self.prefix}/openapi.json'" in result["body"]

    def test_fastapi_schema_is_served(self, make_handler: MakeHandler, backend: str) -> None:
        handler = self.handler(make_handler, fastapi_app(), backend)

        result = handler(self.event("/openapi.json"), Context())

        assert result["statusCode"] == 200
        assert result["headers"]["content-type"] == "application/json"
        schema = json_body(result)
        assert schema["openapi"].startswith("3.")
        assert set(schema["paths"]) == {"/todos", "/api/values", "/items/{id}", "/apiary/x"}
        if self.prefix:
            # FastAPI names the prefix as the server, so "Try it out" reaches the API.
            assert schema["servers"] == [{"url": self.prefix}]
        else:
            assert "servers" not in schema


class TestRestApiStage(_Deployment):
    """REST API, stage Prod, called on the default execute-api endpoint."""

    prefix = "/Prod"
    host = REST_HOST
    route = "/todos"
    route_name = "todos"

    def event(self, path: str) -> dict[str, Any]:
        return rest_event(path)

    def test_fixture_is_as_documented(self) -> None:
        event = rest_event("/todos")
        assert event == load_event(REST_EVENT)
        assert event["requestContext"]["stage"] == "Prod"


class TestHttpApiNamedStage(_Deployment):
    """HTTP API payload 2.0, named stage beta on the execute-api endpoint."""

    prefix = "/beta"
    host = STAGE_HOST
    route = "/api/values"
    route_name = "values"

    def event(self, path: str) -> dict[str, Any]:
        return stage_event(path)

    def test_fixture_is_as_documented(self) -> None:
        event = stage_event("/api/values")
        assert event == load_event(STAGE_EVENT)
        assert event["requestContext"]["stage"] == "beta"


class TestCustomDomainMapping(_Deployment):
    """HTTP API payload 2.0 behind a custom domain whose API mapping has the path ``api``."""

    handler_options: ClassVar[dict[str, Any]] = {"api_gateway_base_path": "/api"}
    prefix = "/api"
    host = CUSTOM_HOST
    route = "/items/1"
    route_name = "item"

    def event(self, path: str) -> dict[str, Any]:
        return custom_domain_event("/api" + path)

    @pytest.mark.parametrize("base_path", ["/api", "api/", "/api/", "api"])
    @pytest.mark.parametrize("framework", ["starlette", "fastapi"])
    def test_every_spelling_of_the_base_path(
        self, base_path: str, framework: str, make_handler: MakeHandler, backend: str
    ) -> None:
        handler = make_handler(
            build_app(framework), backend=backend, api_gateway_base_path=base_path
        )

        result = handler(custom_domain_event("/api/items/1"), Context())

        assert result["statusCode"] == 200
        assert json_body(result) == {
            "route": "item",
            "root_path": "/api",
            "url": f"https://{CUSTOM_HOST}/api/items/1",
            "url_for": f"https://{CUSTOM_HOST}/api/items/1",
            "other": f"https://{CUSTOM_HOST}/api/items/7",
        }

    @pytest.mark.parametrize("framework", ["starlette", "fastapi"])
    def test_base_path_strips_whole_segments_only(
        self, framework: str, make_handler: MakeHandler, backend: str
    ) -> None:
        handler = make_handler(build_app(framework), backend=backend, api_gateway_base_path="/api")

        result = handler(custom_domain_event("/apiary/x"), Context())

        assert result["statusCode"] == 200
        assert json_body(result) == {
            "route": "apiary",
            "root_path": "",
            "url": f"https://{CUSTOM_HOST}/apiary/x",
            "url_for": f"https://{CUSTOM_HOST}/apiary/x",
            "other": f"https://{CUSTOM_HOST}/items/7",
        }


# -- Starlette behaviours -------------------------------------------------------------------------


class TestLifespanState:
    def test_state_from_lifespan_reaches_every_request(
        self, make_handler: MakeHandler, backend: str
    ) -> None:
        client = object()
        startups: list[str] = []
        seen: list[tuple[object, bool]] = []

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
            startups.append("startup")
            yield {"client": client}

        async def endpoint(request: Request) -> PlainTextResponse:
            # A request sees the lifespan state, not what an earlier request set on its copy.
            seen.append((request.state.client, hasattr(request.state, "leak")))
            request.state.leak = True
            return PlainTextResponse("ok")

        app = Starlette(routes=[Route("/todos", endpoint)], lifespan=lifespan)
        handler = make_handler(app, backend=backend)

        first = handler(default_event("/todos"), Context())
        second = handler(default_event("/todos"), Context())

        assert first["statusCode"] == second["statusCode"] == 200
        assert startups == ["startup"]
        assert len(seen) == 2
        assert seen[0][0] is client
        assert seen[1][0] is client
        assert seen[0][1] is seen[1][1] is False


class TestStarletteResponses:
    def test_background_tasks_finish_before_the_handler_returns(
        self, make_handler: MakeHandler, backend: str
    ) -> None:
        done: list[str] = []

        async def async_task(name: str) -> None:
            await anyio.lowlevel.checkpoint()
            done.append(name)

        def sync_task(name: str) -> None:
            done.append(name)

        async def endpoint(request: Request) -> PlainTextResponse:
            tasks = BackgroundTasks()
            tasks.add_task(async_task, "async")
            tasks.add_task(sync_task, "sync")
            return PlainTextResponse("accepted", status_code=202, background=tasks)

        handler = make_handler(Starlette(routes=[Route("/todos", endpoint)]), backend=backend)

        result = handler(default_event("/todos"), Context())

        assert result["statusCode"] == 202
        assert result["body"] == "accepted"
        assert done == ["async", "sync"]

    def test_streaming_response_is_collected_whole(
        self, make_handler: MakeHandler, backend: str
    ) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for number in range(5):
                await anyio.lowlevel.checkpoint()
                yield f"line {number}\n".encode()

        async def endpoint(request: Request) -> StreamingResponse:
            return StreamingResponse(chunks(), media_type="text/plain")

        handler = make_handler(Starlette(routes=[Route("/todos", endpoint)]), backend=backend)

        result = handler(default_event("/todos"), Context())

        assert result == {
            "statusCode": 200,
            "headers": {"content-type": "text/plain; charset=utf-8"},
            "body": "".join(f"line {number}\n" for number in range(5)),
            "isBase64Encoded": False,
        }

    def test_json_response(self, make_handler: MakeHandler, backend: str) -> None:
        async def endpoint(request: Request) -> JSONResponse:
            return JSONResponse({"todos": ["write tests"], "done": False})

        handler = make_handler(Starlette(routes=[Route("/todos", endpoint)]), backend=backend)

        result = handler(default_event("/todos"), Context())

        body = '{"todos":["write tests"],"done":false}'
        assert result == {
            "statusCode": 200,
            "headers": {"content-length": str(len(body)), "content-type": "application/json"},
            "body": body,
            "isBase64Encoded": False,
        }

    def test_no_content(self, make_handler: MakeHandler, backend: str) -> None:
        async def endpoint(request: Request) -> Response:
            return Response(status_code=204)

        app = Starlette(routes=[Route("/todos", endpoint, methods=["DELETE"])])
        handler = make_handler(app, backend=backend)

        result = handler(default_event("/todos", method="DELETE"), Context())

        assert result == {
            "statusCode": 204,
            "headers": {},
            "body": "",
            "isBase64Encoded": False,
        }

    def test_redirect_keeps_location(self, make_handler: MakeHandler, backend: str) -> None:
        async def endpoint(request: Request) -> RedirectResponse:
            return RedirectResponse("https://example.com/elsewhere?a=1", status_code=302)

        handler = make_handler(Starlette(routes=[Route("/todos", endpoint)]), backend=backend)

        result = handler(default_event("/todos"), Context())

        assert result == {
            "statusCode": 302,
            "headers": {"content-length": "0", "location": "https://example.com/elsewhere?a=1"},
            "body": "",
            "isBase64Encoded": False,
        }


def cookie_app() -> Starlette:
    async def endpoint(request: Request) -> PlainTextResponse:
        response = PlainTextResponse("ok")
        response.set_cookie("session", "abc", httponly=True)
        response.set_cookie("theme", "dark")
        return response

    return Starlette(routes=[Route("/todos", endpoint)])


class TestCookies:
    SESSION = "session=abc; HttpOnly; Path=/; SameSite=lax"
    THEME = "theme=dark; Path=/; SameSite=lax"

    def test_http_api_v2_cookies_list(self, make_handler: MakeHandler, backend: str) -> None:
        handler = make_handler(cookie_app(), backend=backend)

        result = handler(default_event("/todos"), Context())

        assert result == {
            "statusCode": 200,
            "headers": {"content-length": "2", "content-type": "text/plain; charset=utf-8"},
            "cookies": [self.SESSION, self.THEME],
            "body": "ok",
            "isBase64Encoded": False,
        }

    def test_rest_v1_multi_value_headers(self, make_handler: MakeHandler, backend: str) -> None:
        handler = make_handler(cookie_app(), backend=backend)

        result = handler(rest_event("/todos"), Context())

        assert result == {
            "statusCode": 200,
            "headers": {"content-length": "2", "content-type": "text/plain; charset=utf-8"},
            "multiValueHeaders": {"set-cookie": [self.SESSION, self.THEME]},
            "body": "ok",
            "isBase64Encoded": False,
        }


class TestErrors:
    def test_http_exception_404(self, make_handler: MakeHandler, backend: str) -> None:
        async def endpoint(request: Request) -> Response:
            raise HTTPException(status_code=404, detail="no such todo")

        handler = make_handler(Starlette(routes=[Route("/todos", endpoint)]), backend=backend)

        result = handler(default_event("/todos"), Context())

        assert result["statusCode"] == 404
        assert result["body"] == "no such todo"

    def test_unknown_route_404(self, make_handler: MakeHandler, backend: str) -> None:
        handler = make_handler(starlette_app(), backend=backend)

        result = handler(default_event("/nowhere"), Context())

        assert result["statusCode"] == 404

    def test_fastapi_http_exception_404(self, make_handler: MakeHandler, backend: str) -> None:
        app = FastAPI()

        @app.get("/items/{id}")
        async def item(id: str) -> dict[str, str]:
            raise FastAPIHTTPException(status_code=404, detail=f"no item {id}")

        handler = make_handler(app, backend=backend)

        result = handler(default_event("/items/9"), Context())

        assert result["statusCode"] == 404
        assert json_body(result) == {"detail": "no item 9"}

    def test_unhandled_exception_answers_500_and_next_invocation_works(
        self, make_handler: MakeHandler, backend: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def boom(request: Request) -> Response:
            raise RuntimeError("boom")

        async def fine(request: Request) -> PlainTextResponse:
            return PlainTextResponse("fine")

        app = Starlette(routes=[Route("/boom", boom), Route("/fine", fine)])
        handler = make_handler(app, backend=backend)

        with caplog.at_level(logging.ERROR, logger="mangum_like"):
            failed = handler(default_event("/boom"), Context())

        assert failed["statusCode"] == 500
        assert failed["body"] == "Internal Server Error"
        assert any(
            record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
            for record in caplog.records
            if record.name == "mangum_like"
        )

        result = handler(default_event("/fine"), Context())

        assert result["statusCode"] == 200
        assert result["body"] == "fine"
