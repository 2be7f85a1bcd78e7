"""The README's Django recipe and its Django test example, written out as the files they say
they are and run as a project's own pytest suite (Django's test client, the fake WeChat)."""

from __future__ import annotations

import pytest

from tests.test_readme import python_blocks

URLS = """
from django.urls import path

from myapp import views

urlpatterns = [path("open-account/", views.open_account)]
"""

CONFTEST = """
import django
import pytest
from django.conf import settings

pytest_plugins = ["wechat_openapi.testing.pytest_plugin"]

if not settings.configured:
    settings.configure(
        ROOT_URLCONF="myapp.urls",
        ALLOWED_HOSTS=["testserver"],
        SECRET_KEY="only-for-tests",
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
    )
    django.setup()


@pytest.fixture
def client():
    from django.test import Client

    return Client()
"""


def test_the_django_recipe_and_its_tests_pass_as_written(pytester: pytest.Pytester) -> None:
    wechat_module, views_module = python_blocks("Django recipe")
    view_tests = python_blocks("Testing your code")[2]
    pytester.makepyfile(
        **{
            "myproject/__init__": "",
            "myproject/wechat": wechat_module,
            "myapp/__init__": "",
            "myapp/views": views_module,
            "myapp/urls": URLS,
            "test_views": view_tests,
        }
    )
    pytester.makeconftest(CONFTEST)

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")

    result.assert_outcomes(passed=2)
