from playwright.sync_api import expect


def test_close_the_stream_in_the_test(asgi_live_server_client):
    with asgi_live_server_client.stream("GET", "/ticks") as response:
        lines = (line for line in response.iter_lines() if line.startswith("data:"))
        assert [next(lines) for _ in range(3)] == ["data: 0", "data: 1", "data: 2"]
    # Leaving the block closed the stream: the server has nothing left to wait for.


def test_a_fixture_that_depends_on_the_server(ticks):
    assert next(ticks) == "data: 0"
    assert next(ticks) == "data: 1"


def test_in_the_browser(asgi_live_server, page):
    # asgi_live_server first: the page (and its EventSource) closes before the server
    # stops. In the other order, the server waits for the stream until it gives up.
    page.goto(asgi_live_server.url)
    expect(page.locator("#ticks")).to_contain_text("3")
