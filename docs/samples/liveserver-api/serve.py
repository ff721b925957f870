"""A live server in a plain script: no pytest involved."""

import httpx

from pytest_liveasgi import LiveServer


def main():
    with LiveServer("app:app") as server:
        print("serving on", server.url)  # http://127.0.0.1:43125
        print(httpx.get(server.url + "/health").text)  # ok


if __name__ == "__main__":
    main()
