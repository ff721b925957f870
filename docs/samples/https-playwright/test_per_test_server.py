import pytest


@pytest.fixture
def lenient_page(browser):
    """A page that accepts any certificate: for servers started per test."""
    context = browser.new_context(ignore_https_errors=True)
    yield context.new_page()
    context.close()


def test_a_fresh_server_per_test(live_server, lenient_page):
    lenient_page.goto(live_server.url + "/account")
    assert lenient_page.locator("#secure").text_content() == "true"
