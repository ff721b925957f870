from flask import Flask, url_for


def create_app():
    app = Flask(__name__)

    @app.route("/ping")
    def ping():
        return {"ping": "pong"}

    @app.route("/where")
    def where():
        return url_for("ping", _external=True)

    return app
