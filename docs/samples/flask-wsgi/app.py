from flask import Flask, request

app = Flask(__name__)


@app.get("/hello")
def hello():
    return {"hello": request.args.get("name", "world")}
