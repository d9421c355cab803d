"""What staff can put in the admin's URLs and forms: never a 500. A NUL byte (which
PostgreSQL refuses in any text), an id that is no id, an id past any key's range."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from integrations import api
from integrations.models import Event, Identity, SuppressionRule

pytestmark = pytest.mark.django_db

LISTS = {
    "events": ("/admin/integrations/event/", "retry_events"),
    "rules": ("/admin/integrations/suppressionrule/", "delete_selected"),
    "identities": ("/admin/integrations/identity/", "delete_selected"),
    "aliases": ("/admin/integrations/alias/", "delete_selected"),
}


@pytest.fixture
def boss(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("boss", "b@example.com", "pw"))
    api.identify("u1", {"email": "ann@example.com"})
    api.track("u1", "Order Completed", {"orderId": "o1"})
    SuppressionRule.objects.create(email="eve@example.com", reason="test")
    assert Event.objects.exists() and Identity.objects.exists()
    return client


@pytest.mark.parametrize(
    "email", ["a\x00b@example.com", "\x00", "a" * 300 + "@example.com"], ids=["nul", "only", "long"]
)
def test_a_customer_url_that_names_no_email_is_not_found(boss: Client, email: str) -> None:
    response = boss.get(f"/admin/integrations/event/customer/{email}/")
    assert response.status_code == 404


def test_the_customer_page_still_reads_an_email(boss: Client) -> None:
    response = boss.get("/admin/integrations/event/customer/ANN@example.com/")
    assert response.status_code == 200
    assert "ann@example.com" in response.content.decode()


@pytest.mark.parametrize(
    "selected",
    ["abc", "1\x00", "1.5", str(2**70), ""],
    ids=["word", "nul", "float", "huge", "empty"],
)
@pytest.mark.parametrize(("url", "action"), LISTS.values(), ids=LISTS.keys())
def test_an_action_on_an_id_that_is_no_id_is_a_400(
    boss: Client, url: str, action: str, selected: str
) -> None:
    response = boss.post(url, {"action": action, "_selected_action": ["1", selected]})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "query",
    ["q=%00", "q=ann%00", "status__exact=%00", "kind__exact=a%00", "%00=1"],
    ids=["search", "search-tail", "filter", "other-filter", "key"],
)
@pytest.mark.parametrize("url", [url for url, _ in LISTS.values()], ids=LISTS.keys())
def test_a_nul_in_a_lists_query_is_a_400(boss: Client, url: str, query: str) -> None:
    response = boss.get(f"{url}?{query}")
    assert response.status_code == 400


@pytest.mark.parametrize("url", [url for url, _ in LISTS.values()], ids=LISTS.keys())
def test_an_object_page_with_an_id_that_is_no_id_is_not_a_500(boss: Client, url: str) -> None:
    for object_id in ("abc", "1%00", str(2**70)):
        for page in ("", "history/", "delete/"):
            response = boss.get(f"{url}{object_id}/{page}")
            assert response.status_code in (302, 403, 404), (object_id, page)


@pytest.mark.parametrize(("url", "action"), LISTS.values(), ids=LISTS.keys())
def test_actions_on_real_ids_still_work(boss: Client, url: str, action: str) -> None:
    response = boss.post(url, {"action": action, "_selected_action": ["1"]})
    assert response.status_code in (200, 302)
