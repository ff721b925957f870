import contextlib

from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.cart = []
    yield


async def cart(request):
    if request.method == "POST":
        request.app.state.cart.append((await request.json())["item"])
    return JSONResponse(request.app.state.cart)


async def broken(request):
    raise RuntimeError("out of stock")


app = Starlette(
    routes=[Route("/cart", cart, methods=["GET", "POST"]), Route("/broken", broken)],
    lifespan=lifespan,
)


async def admin(request):
    return PlainTextResponse("admin")


admin_app = Starlette(routes=[Route("/", admin)])
