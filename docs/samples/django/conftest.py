import pytest


@pytest.fixture(autouse=True)
def propagate_view_exceptions(settings):
    """Let a view's exception escape Django, so the test ERRORs with its traceback.

    By default Django answers 500 and only logs the exception.
    """
    settings.DEBUG_PROPAGATE_EXCEPTIONS = True
