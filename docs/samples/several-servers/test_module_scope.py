import contextlib

import httpx
import pytest
import services

from pytest_liveasgi import LiveServer


@pytest.fixture(scope="module")
def shop_and_prices():
    # ExitStack stops the servers in reverse order. LiveServer's stop() raises if an
    # app raised an exception nobody took, so the module's teardown reports it.
    with contextlib.ExitStack() as stack:
        prices = stack.enter_context(LiveServer("services:prices"))
        shop = stack.enter_context(LiveServer(services.create_shop(prices.url)))
        yield shop, prices


def test_tea(shop_and_prices):
    shop, _ = shop_and_prices
    assert httpx.get(shop.url + "/products/tea").json()["price"] == 12.5


def test_coffee(shop_and_prices):
    shop, _ = shop_and_prices
    assert httpx.get(shop.url + "/products/coffee").json()["product"] == "coffee"
