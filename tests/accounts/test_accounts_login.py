from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import LoginLink, hash_token
from apps.accounts.services import login_link_create

pytestmark = pytest.mark.django_db


def test_it_logs_in_once_with_a_link(client, users, client_for):
    key = login_link_create(user=users.staff)
    assert LoginLink.objects.get().key_hash == hash_token(key)
    response = client.get(f"/login/link/{key}/")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(users.staff.pk)
    second = client_for(None).get(f"/login/link/{key}/")
    assert second.status_code == 404
    assert "not valid" in second.content.decode()


def test_it_refuses_an_expired_link(client, users):
    key = login_link_create(user=users.staff)
    LoginLink.objects.update(created=timezone.now() - timedelta(hours=25))
    assert client.get(f"/login/link/{key}/").status_code == 404
    assert "_auth_user_id" not in client.session


def test_it_refuses_an_unknown_link(client, users):
    assert client.get("/login/link/not-a-key/").status_code == 404


def test_it_logs_in_with_a_password(client, users):
    page = client.get("/login/")
    assert page.status_code == 200
    response = client.post("/login/", {"username": "alice", "password": "pw-alice-123"})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(users.owner.pk)


def test_it_shows_a_wrong_password(client, users):
    response = client.post("/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "correct username and password" in response.content.decode()


def test_it_logs_out_on_post(users, client_for):
    client = client_for(users.owner)
    assert client.post("/logout/").status_code == 302
    assert "_auth_user_id" not in client.session
