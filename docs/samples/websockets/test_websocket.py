import pytest
from websockets.asyncio.client import connect as async_connect
from websockets.sync.client import connect


def test_echo(live_server):
    with connect(live_server.ws_url + "/ws") as websocket:
        websocket.send("hi")
        assert websocket.recv(timeout=5) == "echo: hi"


@pytest.mark.anyio
async def test_echo_async(live_server):
    async with async_connect(live_server.ws_url + "/ws") as websocket:
        await websocket.send("hi")
        assert await websocket.recv() == "echo: hi"
