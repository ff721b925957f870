from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


async def home(request):
    return PlainTextResponse("Hello, world!")


async def items(request):
    return JSONResponse({"items": ["apple", "pear"]})


app = Starlette(routes=[Route("/", home), Route("/items", items)])
