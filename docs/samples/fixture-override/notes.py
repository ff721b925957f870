import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


def create_app(data_dir, testing=False):
    notes_file = Path(data_dir) / "notes.json"

    async def notes(request):
        if request.method == "POST":
            saved = json.loads(notes_file.read_text()) if notes_file.exists() else []
            notes_file.write_text(json.dumps([*saved, (await request.json())["text"]]))
        return JSONResponse(
            {"notes": json.loads(notes_file.read_text()) if notes_file.exists() else []}
        )

    app = Starlette(
        debug=testing, routes=[Route("/notes", notes, methods=["GET", "POST"])]
    )
    app.state.notes_file = notes_file
    return app
