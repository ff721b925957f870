from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


def make_app(name):
    async def hello(request):
        return PlainTextResponse(f"{name} at {request.url.path}")

    return Starlette(routes=[Route("/{path:path}", hello)])


site = make_app("site")
admin = make_app("admin")


def create_app():
    """An app factory: serve it with factory=True."""
    return make_app("factory")


async def plain_asgi_app(scope, receive, send):
    """An ASGI app that is a plain function."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"plain function"})
