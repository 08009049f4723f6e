from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from apps.accounts.models import ApiToken, hash_token
from apps.accounts.services import token_create

pytestmark = pytest.mark.django_db


def test_it_stores_only_the_hash(users):
    token, key = token_create(user=users.owner, name="nb")
    row = ApiToken.objects.get(pk=token.pk)
    assert row.key_hash == hash_token(key)
    assert key not in {row.key_hash, row.prefix, row.name}
    assert row.prefix == key[:8]


def test_it_authenticates_the_api_with_the_key(client, users, owner_key):
    response = client.get("/api/tokens/", HTTP_AUTHORIZATION=f"Token {owner_key}")
    assert response.status_code == 200
    assert [t["name"] for t in response.json()["tokens"]] == ["script"]
    assert ApiToken.objects.get(user=users.owner).last_used is not None


def test_it_records_the_last_use_at_most_once_a_minute(client, users, owner_key):
    headers = {"HTTP_AUTHORIZATION": f"Token {owner_key}"}
    assert client.get("/api/tokens/", **headers).status_code == 200
    first = ApiToken.objects.get(user=users.owner).last_used
    assert client.get("/api/tokens/", **headers).status_code == 200
    assert ApiToken.objects.get(user=users.owner).last_used == first  # no write this time
    ApiToken.objects.filter(user=users.owner).update(last_used=first - timedelta(minutes=2))
    assert client.get("/api/tokens/", **headers).status_code == 200
    assert ApiToken.objects.get(user=users.owner).last_used > timezone.now() - timedelta(seconds=5)


def test_it_refuses_a_revoked_key(client, users, owner_key, client_for):
    token = ApiToken.objects.get(user=users.owner)
    response = client_for(users.owner).delete(f"/api/tokens/{token.pk}/")
    assert response.status_code == 204
    response = client.get("/api/datasets/", HTTP_AUTHORIZATION=f"Token {owner_key}")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]


def test_it_refuses_an_unknown_or_empty_token(client, users):
    for header in ("Token nope", "Token", "token  "):
        response = client.get("/login/", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        assert "invalid or was revoked" in response.json()["error"]


@pytest.mark.parametrize("header", ["Bearer eyJhbGciOi.x.y", "Basic YWxpY2U6cHc=", "Negotiate abc"])
def test_it_ignores_authorization_schemes_that_are_not_ours(header, client, users, client_for):
    # What a proxy in front of the portal adds (HTTP Basic, an SSO proxy's Bearer) is not a
    # portal credential: pages and the API answer as without the header.
    assert client.get("/login/", HTTP_AUTHORIZATION=header).status_code == 200
    assert client.get("/healthz", HTTP_AUTHORIZATION=header).status_code in {200, 503}
    anonymous = client.get("/api/tokens/", HTTP_AUTHORIZATION=header)
    assert anonymous.status_code == 401
    assert "Log in" in anonymous.json()["error"]
    session = client_for(users.owner).get("/api/tokens/", HTTP_AUTHORIZATION=header)
    assert session.status_code == 200
    assert session.json() == {"tokens": []}


def test_it_refuses_anonymous_api_requests(client, users):
    response = client.get("/api/tokens/")
    assert response.status_code == 401
    assert set(response.json()) == {"error", "fields"}


def test_it_creates_a_token_through_the_api_once(users, client_for):
    client = client_for(users.owner)
    response = client.post("/api/tokens/", {"name": "cron"}, content_type="application/json")
    assert response.status_code == 201
    key = response.json()["key"]
    assert ApiToken.objects.get(user=users.owner).key_hash == hash_token(key)
    listed = client.get("/api/tokens/").json()["tokens"]
    assert "key" not in listed[0]


@pytest.mark.parametrize(
    "body",
    [
        '{"name": ""}',
        "{}",
        '{"name": 5}',
        "not json",
        "[1]",
        '{"name": NaN}',
        '{"name": "' + "x" * 101 + '"}',
    ],
)
def test_it_refuses_bad_token_input(users, body, client_for):
    response = client_for(users.owner).post("/api/tokens/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]
    assert ApiToken.objects.count() == 0


def test_it_hides_other_users_tokens(users, owner_key, client_for):
    token = ApiToken.objects.get(user=users.owner)
    for other in (users.member, users.outsider, users.staff):
        client = client_for(other)
        assert client.get("/api/tokens/").json()["tokens"] == []
        assert client.delete(f"/api/tokens/{token.pk}/").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_it_refuses_anonymous_token_delete(client, users, owner_key):
    token = ApiToken.objects.get(user=users.owner)
    assert client.delete(f"/api/tokens/{token.pk}/").status_code == 401
    assert (
        client.post("/api/tokens/", {"name": "x"}, content_type="application/json").status_code
        == 401
    )
    assert ApiToken.objects.count() == 1


def test_it_shows_a_new_key_exactly_once_on_the_page(users, client_for):
    client = client_for(users.owner)
    response = client.post("/tokens/", {"name": "laptop"}, follow=True)
    assert response.status_code == 200
    key = response.context["new_key"]
    assert key and key in response.content.decode()
    assert ApiToken.objects.get(user=users.owner).key_hash == hash_token(key)
    again = client.get("/tokens/")
    assert key not in again.content.decode()
    assert "laptop" in again.content.decode()


def test_it_revokes_from_the_page(users, owner_key, client_for):
    token = ApiToken.objects.get(user=users.owner)
    response = client_for(users.owner).post(f"/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    assert not ApiToken.objects.exists()


def test_it_gives_404_when_revoking_someone_elses_token_on_the_page(users, owner_key, client_for):
    token = ApiToken.objects.get(user=users.owner)
    assert client_for(users.outsider).post(f"/tokens/{token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.exists()


def test_it_redirects_anonymous_token_page_to_login(client, users):
    response = client.get("/tokens/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_refuses_tokens_of_inactive_users(client, users, owner_key):
    User.objects.filter(pk=users.owner.pk).update(is_active=False)
    assert client.get("/api/tokens/", HTTP_AUTHORIZATION=f"Token {owner_key}").status_code == 401


def test_it_answers_csrf_failures_on_the_api_as_json(settings, users):
    settings.CSRF_FAILURE_VIEW = "apps.web.errors.csrf_failure"
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(users.owner)
    response = client.post(
        "/api/tokens/", json.dumps({"name": "x"}), content_type="application/json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    assert ApiToken.objects.count() == 0


def test_it_skips_csrf_for_token_requests(users, owner_key):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/tokens/",
        {"name": "x"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {owner_key}",
    )
    assert response.status_code == 201
