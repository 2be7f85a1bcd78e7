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
    _, wechat_module, views_module = python_blocks("Django recipe")
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


PLATFORM_URLS = """
from django.urls import path

from myapp import views

urlpatterns = [
    path("wechat/callback/", views.component_callback),
    path("wechat/authorize/", views.start_authorization),
    path("wechat/authorized/", views.authorized),
]
"""

# What the README's myproject/wechat.py takes from your settings.
PLATFORM_SETTINGS = """
COMPONENT_APPID, COMPONENT_SECRET = "wxplatform", "platform-secret"
PUSH_TOKEN, ENCODING_AES_KEY = "push-token", "A" * 43
"""

# The README's other two views, tested the same way (appended to its test module, whose
# fixtures they use).
REDIRECT_VIEW_TESTS = """

def test_the_authorization_page_links_to_wechat(client, platform, wechat_fake, component):
    push = wechat_fake.ticket_push(component)  # a ticket for the component token
    platform.handle_push(push.body, **push.params)
    page = client.get("/wechat/authorize/").content.decode()
    assert "https://mp.weixin.qq.com/cgi-bin/componentloginpage?" in page
    assert "redirect_uri=http%3A%2F%2Ftestserver%2Fwechat%2Fauthorized%2F" in page


def test_the_redirect_completes_the_authorization(client, platform, wechat_fake, component):
    shop = wechat_fake.add_account("wxshop", open_appid="wxopen")
    push = wechat_fake.ticket_push(component)
    platform.handle_push(push.body, **push.params)
    code = wechat_fake.authorization_code(component, shop)
    assert client.get(f"/wechat/authorized/?auth_code={code}").content == b"Authorized."
    assert client.get(f"/wechat/authorized/?auth_code={code}").content == b"Authorized."
    assert client.get("/wechat/authorized/").status_code == 400
    assert platform.client("wxshop").get_open_account().open_appid == "wxopen"
"""


def test_the_platform_views_and_their_tests_pass_as_written(pytester: pytest.Pytester) -> None:
    models, _, wechat_module, views_module, view_tests = python_blocks("Third-party platforms")
    pytester.makepyfile(
        **{
            "myproject/__init__": "",
            "myproject/wechat": PLATFORM_SETTINGS + wechat_module,
            "myapp/__init__": "",
            "myapp/models": models,
            "myapp/views": views_module,
            "myapp/urls": PLATFORM_URLS,
            "test_callback": view_tests + REDIRECT_VIEW_TESTS,
        }
    )
    pytester.makeconftest(CONFTEST.replace("INSTALLED_APPS=[]", 'INSTALLED_APPS=["myapp"]'))

    # A process of its own: Django's settings (with myapp installed) are configured once.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=120)

    result.assert_outcomes(passed=5)
