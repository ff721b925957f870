"""Two services: a price service, and a shop that asks it for prices over HTTP."""

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def price(request):
    return JSONResponse({"sku": request.path_params["sku"], "cents": 1250})


prices = Starlette(routes=[Route("/prices/{sku}", price)])


def create_shop(prices_url):
    async def product(request):
        async with httpx.AsyncClient(base_url=prices_url) as client:
            answer = await client.get("/prices/" + request.path_params["sku"])
        return JSONResponse(
            {
                "product": request.path_params["sku"],
                "price": answer.json()["cents"] / 100,
            }
        )

    return Starlette(routes=[Route("/products/{sku}", product)])
