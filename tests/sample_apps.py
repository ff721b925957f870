"""Small real apps the tests serve (copied into pytester folders as apps.py)."""

import asyncio
import contextlib

from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute

EVENTS = []


@contextlib.asynccontextmanager
async def lifespan(app):
    EVENTS.append("startup")
    app.state.greeting = "hello"
    yield
    EVENTS.append("shutdown")


async def hello(request):
    return PlainTextResponse(request.app.state.greeting)


async def boom(request):
    raise RuntimeError("boom from the app")


async def slow(request):
    await asyncio.sleep(float(request.query_params.get("seconds", "60")))
    return PlainTextResponse("slow")


async def scope(request):
    return JSONResponse({"root_path": request.scope.get("root_path", ""), "path": request.url.path})


async def endless(request):
    async def chunks():
        while True:
            yield b"x" * 10
            await asyncio.sleep(0.01)

    return StreamingResponse(chunks())


async def ws_echo(websocket):
    await websocket.accept()
    while True:
        await websocket.send_text("echo: " + await websocket.receive_text())


app = Starlette(
    routes=[
        Route("/", hello),
        Route("/boom", boom),
        Route("/slow", slow),
        Route("/scope", scope),
        Route("/endless", endless),
        WebSocketRoute("/ws", ws_echo),
    ],
    lifespan=lifespan,
)


async def plain_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"plain"})


def create_app():
    return app
