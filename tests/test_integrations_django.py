"""Django with pytest-django's database, served by the plugin, with pytest-django installed.

Each test writes a small real Django project (settings module, a `notes` app with a model
and its migration, sync and async views, `mysite.asgi:application`) into pytester's folder
and runs a real pytest session on it with pytest-django on (``-p django``): pytest-django
creates the test database and runs the migration; the tests write rows with the ORM and the
views, running in the server's threads, read them (and the other way round).

What these runs established (SQLite; the server's threads have their own connections):
- The test database for SQLite is in memory unless ``DATABASES[...]["TEST"]["NAME"]`` names a
  file; Django names it ``file:memorydb_default?mode=memory&cache=shared``, a shared-cache
  database, so the server's connections see the same tables. (A plain ``:memory:`` name
  outside pytest-django would give each thread its own empty database.)
- ``django_db(transaction=True)`` is required: a plain ``django_db`` test holds its rows in a
  transaction the server cannot see (file: the view sees no rows; shared-cache memory: the
  view fails with "database table is locked").
- pytest-django blocks database access process-wide, so a request during a test without
  database access makes the view raise "Database access not allowed" in the server.
- Django turns a view's exception into a 500 response and logs it, so the plugin never
  sees it; ``DEBUG_PROPAGATE_EXCEPTIONS = True`` lets it escape the app, and the test
  ERRORs with the server traceback.
"""

from __future__ import annotations

import pytest
from conftest import dedent

# Subprocess runs: Django's settings and database connections are configured once per process.
pytestmark = pytest.mark.subprocess

# pytest-django on, pytest-flask off, whatever PYTEST_ADDOPTS the suite sets for pytester.
PLUGINS = ("-p", "django", "-p", "no:flask", "-p", "no:cacheprovider")

pytest.importorskip("pytest_django")

DATABASES = {
    # Django's default for SQLite tests: an in-memory test database with a shared cache.
    "memory": "",
    "file": 'DATABASES["default"]["TEST"] = {"NAME": BASE_DIR / "test_db.sqlite3"}',
}

SETTINGS = """
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "not secret: tests only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["notes"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "mysite.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""

PROJECT = {
    "mysite/__init__.py": "",
    "mysite/asgi.py": """
        import os

        from django.core.asgi import get_asgi_application

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
        application = get_asgi_application()
        """,
    "mysite/urls.py": """
        from django.urls import path

        from notes import views

        urlpatterns = [
            path("notes/", views.notes),
            path("async-notes/", views.async_notes),
            path("add/", views.add),
            path("where/", views.where),
        ]
        """,
    "notes/__init__.py": "",
    "notes/models.py": """
        from django.db import models


        class Note(models.Model):
            text = models.CharField(max_length=100)
        """,
    "notes/migrations/__init__.py": "",
    "notes/migrations/0001_initial.py": """
        from django.db import migrations, models


        class Migration(migrations.Migration):
            initial = True
            dependencies = []
            operations = [
                migrations.CreateModel(
                    name="Note",
                    fields=[
                        ("id", models.AutoField(primary_key=True, serialize=False)),
                        ("text", models.CharField(max_length=100)),
                    ],
                )
            ]
        """,
    "notes/views.py": """
        from django.db import connection
        from django.http import JsonResponse

        from .models import Note


        def notes(request):
            return JsonResponse({"notes": list(Note.objects.order_by("id").values_list("text", flat=True))})


        async def async_notes(request):
            return JsonResponse({"notes": [note.text async for note in Note.objects.order_by("id")]})


        def add(request):
            Note.objects.create(text=request.GET["text"])
            return JsonResponse({"count": Note.objects.count()})


        def where(request):
            return JsonResponse({"database": str(connection.settings_dict["NAME"])})
        """,
}

INI = """
[pytest]
DJANGO_SETTINGS_MODULE = mysite.settings
pythonpath = .
asgi_app = mysite.asgi:application
asyncio_default_fixture_loop_scope = function
# Django's ASGI handler does not speak the lifespan protocol.
asgi_server_options =
    lifespan = off
"""


def _project(pytester: pytest.Pytester, database: str) -> None:
    for name, source in PROJECT.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(source))
    (pytester.path / "mysite" / "settings.py").write_text(dedent(SETTINGS) + DATABASES[database] + "\n")
    pytester.makeini(INI)


@pytest.mark.parametrize("database", sorted(DATABASES))
def test_per_test_server_and_transactional_db(pytester: pytest.Pytester, database: str) -> None:
    _project(pytester, database)
    pytester.makepyfile(
        test_notes=dedent(
            """
            import pytest
            from notes.models import Note

            pytestmark = pytest.mark.django_db(transaction=True)

            def test_sync_and_async_views_see_what_the_test_wrote(asgi_live_server_client):
                Note.objects.create(text="written by the test")
                expected = {"notes": ["written by the test"]}
                assert asgi_live_server_client.get("/notes/").json() == expected
                assert asgi_live_server_client.get("/async-notes/").json() == expected

            def test_the_test_sees_what_the_view_wrote(asgi_live_server_client):
                assert asgi_live_server_client.get("/add/", params={"text": "by the view"}).json() == {"count": 1}
                assert list(Note.objects.values_list("text", flat=True)) == ["by the view"]

            def test_tables_are_flushed_between_tests(asgi_live_server_client):
                assert asgi_live_server_client.get("/notes/").json() == {"notes": []}

            def test_the_server_uses_the_test_database(asgi_live_server_client):
                name = asgi_live_server_client.get("/where/").json()["database"]
                print("server database:", name)
                assert "test" in name or "memorydb" in name

            def test_a_host_not_in_allowed_hosts_is_a_400(asgi_live_server_client, settings):
                settings.ALLOWED_HOSTS = ["example.com"]
                assert asgi_live_server_client.get("/notes/").status_code == 400

            @pytest.mark.asyncio
            async def test_async_test_with_the_async_orm(asgi_live_server):
                await Note.objects.acreate(text="async")
                async with asgi_live_server.async_client() as client:
                    assert (await client.get("/notes/")).json() == {"notes": ["async"]}
            """
        )
    )
    result = pytester.runpytest(*PLUGINS, "-s")
    result.assert_outcomes(passed=6)
    expected = "memorydb_default?mode=memory&cache=shared" if database == "memory" else "test_db.sqlite3"
    result.stdout.fnmatch_lines([f"*server database: *{expected}"])


@pytest.mark.parametrize("database", sorted(DATABASES))
def test_session_server_from_the_ini_file(pytester: pytest.Pytester, database: str) -> None:
    _project(pytester, database)
    pytester.makepyfile(
        test_notes=dedent(
            """
            import httpx
            import pytest
            from notes.models import Note

            pytestmark = pytest.mark.django_db(transaction=True)

            @pytest.mark.parametrize("text", ["first", "second", "third"])
            def test_each_test_sees_only_its_rows(asgi_live_server_session, text):
                Note.objects.create(text=text)
                assert httpx.get(asgi_live_server_session + "/notes/").json() == {"notes": [text]}
                assert httpx.get(asgi_live_server_session + "/async-notes/").json() == {"notes": [text]}

            def test_one_server_for_the_session(asgi_live_server_session, request):
                servers = request.config.stash.setdefault(pytest.StashKey[set](), set())
                servers.add(asgi_live_server_session.url)
                assert len(servers) == 1
            """
        )
    )
    pytester.runpytest(*PLUGINS).assert_outcomes(passed=4)


def test_without_transaction_true_the_server_cannot_see_the_rows(pytester: pytest.Pytester) -> None:
    _project(pytester, "file")
    pytester.makepyfile(
        test_notes=dedent(
            """
            import pytest
            from notes.models import Note

            @pytest.mark.django_db
            def test_plain_django_db(asgi_live_server_client):
                Note.objects.create(text="uncommitted")
                assert asgi_live_server_client.get("/notes/").json() == {"notes": []}
            """
        )
    )
    pytester.runpytest(*PLUGINS).assert_outcomes(passed=1)


def test_what_goes_wrong_without_transaction_true_or_database_access(pytester: pytest.Pytester) -> None:
    _project(pytester, "memory")
    pytester.makepyfile(
        test_notes=dedent(
            """
            import pytest
            from notes.models import Note

            @pytest.mark.django_db
            def test_plain_django_db(asgi_live_server_client):
                Note.objects.create(text="uncommitted")
                assert asgi_live_server_client.get("/notes/").status_code == 200

            def test_no_database_access(asgi_live_server_client):
                assert asgi_live_server_client.get("/notes/").status_code == 200

            def test_exceptions_propagated(asgi_live_server_client, settings):
                settings.DEBUG_PROPAGATE_EXCEPTIONS = True
                assert asgi_live_server_client.get("/notes/").status_code == 500
            """
        )
    )
    result = pytester.runpytest(*PLUGINS)
    # Django turns a view's exception into a 500 and logs it: the test fails on the
    # status, and the cause is in the captured log. With DEBUG_PROPAGATE_EXCEPTIONS
    # (the `settings` fixture changes it for the server's threads too) the exception
    # escapes the app, and the test ERRORs with the server traceback.
    result.assert_outcomes(failed=2, passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_exceptions_propagated _*",
            "--- server-side traceback of GET /notes/ ---",
            '*RuntimeError: Database access not allowed, use the "django_db" mark*',
            "*_ test_plain_django_db _*",
            "*Captured log call*",
            "*OperationalError: database table is locked: notes_note",
            "*_ test_no_database_access _*",
            "*Captured log call*",
            '*RuntimeError: Database access not allowed, use the "django_db" mark*',
        ]
    )
