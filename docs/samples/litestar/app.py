import contextlib

from litestar import Litestar, get
from litestar.datastructures import State


@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.greeting = "hello from litestar"
    yield


@get("/greeting")
async def greeting(state: State) -> dict:
    return {"text": state.greeting}


app = Litestar(route_handlers=[greeting], lifespan=[lifespan])
