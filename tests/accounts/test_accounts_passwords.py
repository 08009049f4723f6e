"""Password reset by mailed link, set-password links made by staff in the admin, throttling."""

from __future__ import annotations

import re

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def _set_password(client, path: str, password: str):
    form = client.get(path, follow=True)
    assert form.status_code == 200
    return client.post(
        form.redirect_chain[-1][0], {"new_password1": password, "new_password2": password}
    )


def test_it_mails_a_reset_link_that_works_once(client, users):
    users.owner.email = "alice@example.org"
    users.owner.save()
    response = client.post("/password/reset/", {"email": "alice@example.org"})
    assert response.status_code == 302 and response["Location"] == "/password/reset/sent/"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.org"]
    path = re.search(r"http://testserver(/password/set/\S+/)", mail.outbox[0].body).group(1)
    done = _set_password(client, path, "alice-new-pw-4d")
    assert done.status_code == 302 and done["Location"] == "/"
    assert client.session["_auth_user_id"] == str(users.owner.pk)
    users.owner.refresh_from_db()
    assert users.owner.check_password("alice-new-pw-4d")
    again = client.get(path, follow=True)
    assert "Link not valid" in again.content.decode()


def test_it_answers_an_unknown_address_alike_and_mails_nothing(client, users):
    response = client.post("/password/reset/", {"email": "nobody@example.org"})
    assert response.status_code == 302 and response["Location"] == "/password/reset/sent/"
    assert mail.outbox == []


def test_it_refuses_a_weak_new_password_and_keeps_the_old(client, users):
    from apps.accounts.services import password_link_path

    response = _set_password(client, password_link_path(user=users.owner), "short")
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    users.owner.refresh_from_db()
    assert users.owner.check_password("pw-alice-123")


def test_it_lets_staff_make_set_password_links_in_the_admin(users, client_for):
    invited = User.objects.create_user("frank")
    assert not invited.has_usable_password()
    staff = client_for(users.staff)
    users.staff.is_superuser = True
    users.staff.save()
    response = staff.post(
        "/admin/auth/user/",
        {"action": "make_password_links", "_selected_action": [invited.pk]},
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    path = re.search(r"http://testserver(/password/set/[^\s<]+/)", page).group(1)
    client = client_for(None)
    form = client.get(path, follow=True)
    assert "Your account is <strong>frank</strong>" in form.content.decode()
    assert _set_password(client, path, "frank-pw-4d-stem").status_code == 302
    invited.refresh_from_db()
    assert invited.check_password("frank-pw-4d-stem")


def test_it_shows_the_invitation_link_of_a_user_added_without_a_password(users, client_for):
    users.staff.is_superuser = True
    users.staff.save()
    response = client_for(users.staff).post(
        "/admin/auth/user/add/",
        {"username": "gina", "usable_password": "false", "password1": "", "password2": ""},
        follow=True,
    )
    assert response.status_code == 200
    gina = User.objects.get(username="gina")
    assert not gina.has_usable_password()
    path = re.search(r"http://testserver(/password/set/[^\s<]+/)", response.content.decode()).group(
        1
    )
    client = client_for(None)
    assert "Your account is <strong>gina</strong>" in client.get(path, follow=True).content.decode()
    assert _set_password(client, path, "gina-pw-4d-stem").status_code == 302
    gina.refresh_from_db()
    assert gina.check_password("gina-pw-4d-stem")


def test_it_shows_the_way_back_in_on_the_login_page(client, settings):
    settings.PRODUCTION = False  # the embedded default: one scientist, the local admin
    page = client.get("/login/").content.decode()
    assert "manage.py loginlink --base-url http://testserver" in page
    assert 'href="/password/reset/"' in page
    settings.PRODUCTION = True  # a facility's staff know their way in; the page does not say
    page = client.get("/login/").content.decode()
    assert "manage.py loginlink" not in page
    assert 'href="/password/reset/"' in page


def test_it_throttles_wrong_passwords_per_username_and_address(client, users, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        wrong = client.post("/login/", {"username": "alice", "password": "wrong"})
        assert wrong.status_code == 200
    third = client.post("/login/", {"username": "alice", "password": "wrong"})
    assert third.status_code == 429
    locked = client.post("/login/", {"username": "alice", "password": "pw-alice-123"})
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another user from the same address, and the same user from elsewhere, still log in.
    assert client.post("/login/", {"username": "bob", "password": "pw-bob-123"}).status_code == 302
    elsewhere = client_from("10.1.2.3")
    ok = elsewhere.post("/login/", {"username": "alice", "password": "pw-alice-123"})
    assert ok.status_code == 302
    # Staff see the pause in the admin and lift it (there, or with the command).
    staff = client_from("127.0.0.1")
    users.staff.is_superuser = True
    users.staff.save()
    staff.force_login(users.staff)
    attempts = staff.get("/admin/axes/accessattempt/")
    assert attempts.status_code == 200 and "alice" in attempts.content.decode()
    call_command("axes_reset_username", "alice")
    assert not AccessAttempt.objects.filter(username="alice").exists()
    fresh = client_from("127.0.0.1")
    assert (
        fresh.post("/login/", {"username": "alice", "password": "pw-alice-123"}).status_code == 302
    )


def client_from(address: str):
    from django.test import Client

    return Client(REMOTE_ADDR=address)


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "10.0.0.7", "127.0.0.1"),  # no proxy: the header is the client's claim
        (1, "10.0.0.7", "10.0.0.7"),
        (1, "6.6.6.6, 10.0.0.7", "10.0.0.7"),  # a forged entry left of the proxy's
        (2, "10.0.0.7, 192.168.1.2", "10.0.0.7"),
        (2, "10.0.0.7", "127.0.0.1"),  # fewer hops than proxies: not trusted
    ],
)
def test_it_throttles_the_address_the_trusted_proxies_saw(proxies, forwarded, expected, settings):
    from django.test import RequestFactory

    from apps.accounts.throttle import client_address

    settings.PROXY_COUNT = proxies
    request = RequestFactory().get(
        "/login/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded
    )
    assert client_address(request) == expected


def test_it_counts_failures_behind_a_proxy_per_forwarded_address(client, users, settings):
    settings.PROXY_COUNT = 1
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        client.post(
            "/login/", {"username": "alice", "password": "wrong"}, HTTP_X_FORWARDED_FOR="10.0.0.7"
        )
    assert AccessAttempt.objects.get(username="alice").ip_address == "10.0.0.7"
    other = client.post(
        "/login/",
        {"username": "alice", "password": "pw-alice-123"},
        HTTP_X_FORWARDED_FOR="10.0.0.8",
    )
    assert other.status_code == 302
