import pytest
from myapp import create_app


@pytest.fixture
def app():
    """Your pytest-flask `app` fixture can stay as it is."""
    return create_app()


@pytest.fixture
def asgi_app(app):
    """pytest-liveasgi serves whatever this fixture returns."""
    return app
