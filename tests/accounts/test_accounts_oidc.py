"""Single sign-on against a real OpenID provider (oidc-provider on Node, tests/accounts/oidc_provider).

The portal runs as pytest-django's live server; an HTTP client plays the browser and follows
the redirects between the two, so the authorization-code flow, the token exchange, the JWKS
signature check and the userinfo call all happen for real.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests
from django.contrib.auth.models import Group, User
from django.core.exceptions import SuspiciousOperation

from apps.accounts import oidc
from apps.accounts.models import OidcIdentity
from tests.conftest import require_or_skip
from tests.processes import free_port

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc_provider"
OTHER_APP_REDIRECT = "http://127.0.0.1:9/other-app/callback"
CARLA = {
    "email": "carla@example.org",
    "preferred_username": "carla",
    "groups": ["lab", "/facility/tem"],
}


@dataclass
class Provider:
    issuer: str
    accounts: Path

    def set_accounts(self, accounts: dict[str, dict[str, object]]) -> None:
        self.accounts.write_text(json.dumps(accounts))


@pytest.fixture(scope="session")
def provider(live_server, tmp_path_factory) -> Iterator[Provider]:
    node = shutil.which("node")
    if node is None or not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        require_or_skip("NODE", "needs Node and 'npm ci' in tests/accounts/oidc_provider")
    tmp = tmp_path_factory.mktemp("oidc")
    accounts = tmp / "accounts.json"
    config = {
        "port": free_port(),
        "accounts": str(accounts),
        "clients": [
            {
                "client_id": "portal",
                "client_secret": "portal-secret",
                "redirect_uris": [f"{live_server.url}/oidc/callback/"],
            },
            {
                "client_id": "other-app",
                "client_secret": "other-secret",
                "redirect_uris": [OTHER_APP_REDIRECT],
            },
        ],
    }
    (tmp / "config.json").write_text(json.dumps(config))
    log = tmp / "provider.log"
    with open(log, "wb") as out:  # a file, not a pipe nobody reads once it has started
        proc = subprocess.Popen(
            [node, "provider.mjs", str(tmp / "config.json")],
            cwd=PROVIDER_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        issuer = _wait_ready(proc, log)
        yield Provider(issuer=issuer, accounts=accounts)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_ready(proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready = re.search(r"^ready (\S+)$", log.read_text(), re.MULTILINE)
        if ready:
            return ready.group(1)
        if proc.poll() is not None:
            raise RuntimeError(f"the provider exited: {log.read_text()}")
        time.sleep(0.1)
    raise RuntimeError(f"the provider did not start: {log.read_text()}")


@pytest.fixture
def sso(settings, provider):
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_RP_CLIENT_ID = "portal"
    settings.OIDC_RP_CLIENT_SECRET = "portal-secret"
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "apps.accounts.oidc.PortalOIDCBackend",
    ]
    provider.set_accounts({"carla": CARLA})
    return provider


def _sign_in_at_provider(session: requests.Session, login_page: requests.Response, login: str):
    """Submit the provider's login form; the redirects that follow are the browser's."""
    action = re.search(r'action="([^"]+)"', login_page.text).group(1)
    return session.post(urljoin(login_page.url, action), data={"login": login})


def _portal_sign_in(live_server, login: str) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    login_page = session.get(f"{live_server.url}/oidc/authenticate/")
    assert login_page.status_code == 200 and "/interaction/" in login_page.url
    return session, _sign_in_at_provider(session, login_page, login)


def test_it_signs_in_through_the_provider_and_maps_groups(live_server, sso):
    session, home = _portal_sign_in(live_server, "carla")
    assert home.status_code == 200
    assert home.url == f"{live_server.url}/"
    assert "Welcome, carla" in home.text
    carla = User.objects.get(username="carla")
    assert carla.email == "carla@example.org" and not carla.has_usable_password()
    assert sorted(carla.groups.values_list("name", flat=True)) == ["facility/tem", "lab"]
    identity = OidcIdentity.objects.get(user=carla)
    assert (identity.issuer, identity.subject) == (sso.issuer, "carla")
    # The API answers the signed-in browser session.
    assert session.get(f"{live_server.url}/api/tokens/").json() == {"tokens": []}

    # The provider moves carla to other groups: the next sign-in follows.
    sso.set_accounts({"carla": {**CARLA, "groups": ["tem"]}})
    _, again = _portal_sign_in(live_server, "carla")
    assert "Welcome, carla" in again.text
    assert list(carla.groups.values_list("name", flat=True)) == ["tem"]
    assert User.objects.filter(username="carla").count() == 1
    assert Group.objects.filter(name="lab").exists()  # other members keep the group


def test_it_makes_members_of_the_staff_group_portal_admins(live_server, sso, settings):
    settings.OIDC_STAFF_GROUP = "portal-admins"
    sso.set_accounts({"carla": {**CARLA, "groups": ["lab", "portal-admins"]}})
    session, home = _portal_sign_in(live_server, "carla")
    assert "Welcome, carla" in home.text
    carla = User.objects.get(username="carla")
    assert carla.is_staff and carla.is_superuser
    assert session.get(f"{live_server.url}/admin/").status_code == 200
    sso.set_accounts({"carla": CARLA})  # left the group at the provider
    _portal_sign_in(live_server, "carla")
    carla.refresh_from_db()
    assert not carla.is_staff and not carla.is_superuser


def test_it_never_takes_over_a_local_account_of_the_same_name(live_server, sso):
    local = User.objects.create_user("carla", password="local-pw-4d-stem")
    _, page = _portal_sign_in(live_server, "carla")
    assert page.url == f"{live_server.url}/login/"
    assert "Single sign-on failed" in page.text
    assert "exists already and is not linked" in page.text
    assert not OidcIdentity.objects.exists()
    local.refresh_from_db()
    assert local.check_password("local-pw-4d-stem") and not local.groups.exists()


def test_it_shows_the_sign_on_button_only_when_configured(client, settings, sso):
    assert "Sign in with your facility account" in client.get("/login/").content.decode()
    settings.OIDC_ISSUER = None
    assert "Sign in with your facility account" not in client.get("/login/").content.decode()
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


def _id_token(provider: Provider, *, client_id: str, secret: str, redirect_uri: str, nonce: str):
    """An ID token the provider issues to ``client_id`` (the code flow, without the portal)."""
    session = requests.Session()
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "openid email profile groups",
        "nonce": nonce,
        "state": "s",
    }
    login_page = session.get(f"{provider.issuer}/auth", params=params)
    response = _sign_in_at_provider_no_follow(session, login_page)
    while not response.headers["Location"].startswith(redirect_uri):
        response = session.get(
            urljoin(response.url, response.headers["Location"]), allow_redirects=False
        )
    code = parse_qs(urlparse(response.headers["Location"]).query)["code"][0]
    token = requests.post(
        f"{provider.issuer}/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        auth=(client_id, secret),
        timeout=10,
    )
    token.raise_for_status()
    return token.json()["id_token"]


def _sign_in_at_provider_no_follow(session: requests.Session, login_page: requests.Response):
    action = re.search(r'action="([^"]+)"', login_page.text).group(1)
    return session.post(
        urljoin(login_page.url, action), data={"login": "carla"}, allow_redirects=False
    )


def _tampered(token: str, **claims: object) -> str:
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(claims)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _portal_id_token(live_server, provider: Provider, nonce: str) -> str:
    redirect_uri = f"{live_server.url}/oidc/callback/"
    return _id_token(
        provider, client_id="portal", secret="portal-secret", redirect_uri=redirect_uri, nonce=nonce
    )


def test_it_accepts_the_providers_token_for_the_portal(live_server, sso):
    token = _portal_id_token(live_server, sso, "n-1")
    payload = oidc.PortalOIDCBackend().verify_token(token, nonce="n-1")
    assert (payload["iss"], payload["aud"], payload["sub"]) == (sso.issuer, "portal", "carla")


def test_it_refuses_a_token_issued_for_another_client(sso):
    token = _id_token(
        sso,
        client_id="other-app",
        secret="other-secret",
        redirect_uri=OTHER_APP_REDIRECT,
        nonce="n-2",
    )
    with pytest.raises(SuspiciousOperation, match="is for 'other-app', not for 'portal'"):
        oidc.PortalOIDCBackend().verify_token(token, nonce="n-2")


def test_it_refuses_a_tampered_token(live_server, sso):
    token = _portal_id_token(live_server, sso, "n-3")
    backend = oidc.PortalOIDCBackend()
    with pytest.raises(SuspiciousOperation, match="verification failed"):
        backend.verify_token(_tampered(token, sub="root"), nonce="n-3")
    unsigned = _tampered(token).rsplit(".", 1)[0] + "."
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    with pytest.raises(SuspiciousOperation, match="algorithm 'none'"):
        backend.verify_token(header + "." + unsigned.split(".", 1)[1], nonce="n-3")


def test_it_refuses_a_token_of_another_issuer(sso):
    payload = {"iss": "http://evil.example", "aud": "portal", "sub": "carla"}
    with pytest.raises(SuspiciousOperation, match=r"issuer 'http://evil\.example'"):
        oidc.check_id_token_claims(payload, issuer=sso.issuer, client_id="portal")
    several = {"iss": sso.issuer, "aud": ["portal", "other-app"], "azp": "other-app"}
    with pytest.raises(SuspiciousOperation, match="several audiences"):
        oidc.check_id_token_claims(several, issuer=sso.issuer, client_id="portal")


def test_it_keeps_password_logins_working_while_the_provider_is_down(
    client, settings, users, client_for
):
    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings.OIDC_RP_CLIENT_ID = "portal"
    settings.OIDC_RP_CLIENT_SECRET = "portal-secret"
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "apps.accounts.oidc.PortalOIDCBackend",
    ]
    login = client.post("/login/", {"username": "alice", "password": "pw-alice-123"})
    assert login.status_code == 302
    assert client.session["_auth_user_id"] == str(users.owner.pk)
    start = client_for(None).get("/oidc/authenticate/", follow=True)
    assert start.redirect_chain == [("/login/", 302)]
    assert "Single sign-on is unavailable" in start.content.decode()
