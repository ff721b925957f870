import pytest
from notes import create_app


@pytest.fixture
def asgi_app(tmp_path):
    """Build the app in Python: other fixtures (here tmp_path) are at hand."""
    return create_app(data_dir=tmp_path, testing=True)
