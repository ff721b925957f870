from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def home(request):
    return PlainTextResponse("home")


async def broken(request):
    raise RuntimeError("the template is missing")


app = Starlette(routes=[Route("/", home), Route("/broken", broken)])
