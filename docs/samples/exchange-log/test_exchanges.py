import httpx


def test_what_the_server_saw(live_server):
    httpx.get(live_server.url + "/")
    httpx.get(live_server.url + "/cart")
    live_server.settle()

    seen = [
        (exchange.request, exchange.outcome) for exchange in live_server.exchanges()
    ]

    assert seen == [("GET /", "200"), ("GET /cart", "200")]
