import contextlib

from fastapi import Depends, FastAPI


@contextlib.asynccontextmanager
async def lifespan(app):
    app.state.greeting = "hello"
    yield


app = FastAPI(lifespan=lifespan)


def current_user() -> str:
    return "alice"


@app.get("/greeting")
def greeting(user: str = Depends(current_user)):
    return {"text": f"{app.state.greeting}, {user}"}
