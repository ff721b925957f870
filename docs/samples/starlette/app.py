import contextlib

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {"notes": ["Buy milk"]}  # lifespan state, fresh for each live_server


async def notes(request):
    if request.method == "POST":
        request.state.notes.append((await request.json())["text"])
    return JSONResponse(request.state.notes)


app = Starlette(
    routes=[Route("/notes", notes, methods=["GET", "POST"])], lifespan=lifespan
)
