from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute


async def health(request):
    return PlainTextResponse("ok")


async def boom(request):
    raise ValueError("boom")


async def echo(websocket):
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())
    await websocket.close()


app = Starlette(
    routes=[Route("/health", health), Route("/boom", boom), WebSocketRoute("/ws", echo)]
)
