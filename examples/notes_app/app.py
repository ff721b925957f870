"""The example app: a Starlette notes board with a lifespan, JSON API, HTML pages,
a WebSocket and a streaming endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import html
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · Notes</title>
<style>
 body {{ font-family: sans-serif; max-width: 40rem; margin: 2rem auto; }}
 nav a {{ margin-right: 1rem; }}
 li {{ padding: .25rem 0; }}
</style></head>
<body>
<nav><a href="/">Notes</a><a href="/about">About</a></nav>
<h1>{title}</h1>
{body}
</body></html>"""

NOTES_BODY = """<form id="add-note">
  <input id="note-text" name="text" placeholder="Write a note" required>
  <button id="add" type="submit">Add</button>
</form>
<ul id="notes">{items}</ul>
<script>
document.getElementById("add-note").addEventListener("submit", async (event) => {{
  event.preventDefault();
  const input = document.getElementById("note-text");
  const response = await fetch("/api/notes", {{
    method: "POST", headers: {{"content-type": "application/json"}},
    body: JSON.stringify({{text: input.value}}),
  }});
  const note = await response.json();
  const item = document.createElement("li");
  item.textContent = note.text;
  document.getElementById("notes").appendChild(item);
  input.value = "";
}});
</script>"""


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.notes = ["Buy milk"]
    yield
    app.state.notes.clear()


async def home(request: Request) -> HTMLResponse:
    items = "".join(f"<li>{html.escape(note)}</li>" for note in request.app.state.notes)
    return HTMLResponse(PAGE.format(title="Notes", body=NOTES_BODY.format(items=items)))


async def about(request: Request) -> HTMLResponse:
    body = "<p>A tiny app that shows what a live server is for.</p>"
    return HTMLResponse(PAGE.format(title="About", body=body))


async def list_notes(request: Request) -> JSONResponse:
    return JSONResponse({"notes": request.app.state.notes})


async def add_note(request: Request) -> JSONResponse:
    payload = await request.json()
    text = str(payload.get("text", "")).strip()
    if not text:
        return JSONResponse({"error": "text is required"}, status_code=400)
    request.app.state.notes.append(text)
    return JSONResponse({"text": text}, status_code=201)


async def health(request: Request) -> Response:
    return Response("ok", media_type="text/plain")


async def countdown(request: Request) -> StreamingResponse:
    async def lines() -> AsyncIterator[str]:
        for number in range(3, 0, -1):
            yield f"{number}\n"
            await asyncio.sleep(0.01)
        yield "liftoff\n"

    return StreamingResponse(lines(), media_type="text/plain")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive_text()
        await websocket.send_text(f"echo: {message}")


app = Starlette(
    routes=[
        Route("/", home),
        Route("/about", about),
        Route("/api/notes", list_notes, methods=["GET"]),
        Route("/api/notes", add_note, methods=["POST"]),
        Route("/health", health),
        Route("/countdown", countdown),
        WebSocketRoute("/ws", echo),
    ],
    lifespan=lifespan,
)
