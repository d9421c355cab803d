"""{% seg_analytics %}: Segment's snippet for this shop, every value escaped."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.template import Context, Template
from django.test import RequestFactory

from integrations.exceptions import SegConfigurationError
from integrations.ingest.vouching import Voucher, voucher

from .conftest import BROWSER_KEY

TAG = Template("{% load seg_analytics %}{% seg_analytics %}")
HOSTILE = "</script><script>alert(1)</script><!--\u2028\u2029'\"&"


def render(user: Any = None, secure: bool = False, **request_extra: Any) -> str:
    request = RequestFactory().get("/shop/", secure=secure, **request_extra)
    request.user = user or AnonymousUser()
    return TAG.render(Context({"request": request}))


def config_of(html: str) -> dict[str, Any]:
    match = re.search(
        r'<script id="seg-analytics-config" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, html
    return dict(json.loads(match.group(1)))


def scripts_of(html: str) -> int:
    return html.count("</script>")


def test_the_snippet_loads_analytics_js_from_the_shop_and_calls_page() -> None:
    html = render()
    config = config_of(html)
    assert config == {"writeKey": BROWSER_KEY, "cdn": "http://testserver/seg", "identify": None}
    assert 'analytics._cdn+"/analytics.js/v1/"' in html
    assert "analytics.page();" in html
    assert "analytics._cdn=config.cdn" in html


def test_the_cdn_follows_the_public_origin(settings: Any) -> None:
    assert config_of(render(secure=True))["cdn"] == "https://testserver/seg"
    settings.SEG_PUBLIC_ORIGIN = "https://shop.example"
    assert config_of(render())["cdn"] == "https://shop.example/seg"


@pytest.mark.django_db
def test_a_logged_in_user_is_identified_with_their_email() -> None:
    user = User.objects.create_user("ann", "ann@example.com", "x")
    config = config_of(render(user))
    identify = config["identify"]
    assert (identify["userId"], identify["traits"]) == (str(user.pk), {"email": "ann@example.com"})
    assert voucher(str(user.pk), identify["options"]) == Voucher(str(user.pk), "ann@example.com")


@pytest.mark.django_db
def test_a_link_cannot_choose_the_visitors_anonymous_id() -> None:
    """analytics.js's query-string API (?ajs_aid=, ?ajs_uid=, ?ajs_event=) is off."""
    html = render(User.objects.create_user("bob", "bob@example.com", "x"))
    assert "useQueryString:false" in html


@pytest.mark.django_db
def test_hostile_values_stay_data(settings: Any) -> None:
    settings.SEG_BROWSER_WRITE_KEYS = [HOSTILE]
    settings.SEG_PUBLIC_ORIGIN = "https://shop.example</script><!--"
    user = User.objects.create_user(HOSTILE, HOSTILE, "x")
    html = render(user)
    # Only the two script elements close; the values cannot open a third.
    assert scripts_of(html) == 2
    assert "<!--" not in html and "alert(1)</script>" not in html
    config = config_of(html)
    assert config["writeKey"] == HOSTILE
    assert config["identify"]["traits"]["email"] == HOSTILE
    assert config["cdn"] == "https://shop.example</seg"  # the origin ends at the path


def test_without_the_request_the_error_names_the_context_processor() -> None:
    with pytest.raises(SegConfigurationError, match=r"context_processors\.request"):
        TAG.render(Context({}))


def test_without_a_browser_key_the_error_names_the_setting(settings: Any) -> None:
    settings.SEG_BROWSER_WRITE_KEYS = []
    with pytest.raises(SegConfigurationError, match="SEG_BROWSER_WRITE_KEYS"):
        render()


@pytest.mark.django_db
def test_a_staff_session_names_nobody_unless_the_shop_says_so(settings: Any) -> None:
    """An operator logged in to the admin on the shop's host, browsing the shop in the
    same browser as a shopper, must not give the shopper's visitor their email."""
    staff = User.objects.create_user("ops", "ops@example.com", "x", is_staff=True)
    root = User.objects.create_superuser("root", "root@example.com", "x")
    customer = User.objects.create_user("ann", "ann@example.com", "x")
    assert config_of(render(staff))["identify"] is None
    assert config_of(render(root))["identify"] is None
    assert config_of(render(customer))["identify"]["userId"] == str(customer.pk)
    settings.SEG_IDENTIFY_STAFF = True
    identify = config_of(render(staff))["identify"]
    assert (identify["userId"], identify["traits"]) == (str(staff.pk), {"email": "ops@example.com"})
