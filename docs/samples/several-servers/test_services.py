import httpx
import services


def test_shop_shows_the_price_from_the_price_service(live_server_factory):
    prices = live_server_factory("services:prices")
    shop = live_server_factory(services.create_shop(prices.url))

    response = httpx.get(shop.url + "/products/tea")

    assert response.json() == {"product": "tea", "price": 12.5}
