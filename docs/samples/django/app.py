from django.conf import settings

settings.configure(
    SECRET_KEY="tests only",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
)

from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


def hello(request):
    return JsonResponse({"text": "hello from django"})


urlpatterns = [path("hello/", hello)]

app = get_asgi_application()
