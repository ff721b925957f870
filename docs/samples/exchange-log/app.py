from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


async def home(request):
    return PlainTextResponse("home")


async def cart(request):
    return JSONResponse({"items": []})


app = Starlette(routes=[Route("/", home), Route("/cart", cart)])
