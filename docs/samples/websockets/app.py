from starlette.applications import Starlette
from starlette.routing import WebSocketRoute


async def echo(websocket):
    await websocket.accept()
    while True:
        await websocket.send_text("echo: " + await websocket.receive_text())


app = Starlette(routes=[WebSocketRoute("/ws", echo)])
