from quart import Quart

app = Quart(__name__)


@app.before_serving
async def startup():
    app.config["GREETING"] = "hello from quart"


@app.get("/greeting")
async def greeting():
    return {"text": app.config["GREETING"]}
