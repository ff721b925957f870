from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def products(request):
    return JSONResponse([{"name": "teapot", "price": 18}])


app = Starlette(routes=[Route("/products", products)])
