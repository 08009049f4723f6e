"""Single sign-on with OpenID Connect, on mozilla-django-oidc.

The library runs the authorization-code flow (state, nonce, PKCE) and checks the ID token's
signature against the provider's keys. This module adds what a facility needs on top:

* the provider's endpoints come from its discovery document (``OIDC_ISSUER`` is the one
  address to configure), fetched once per process;
* an ID token must name this portal as its audience and the configured issuer as its issuer
  (the library checks neither);
* users are linked by subject, and their groups follow the groups claim
  (``services.oidc_user_sign_in``);
* a refused sign-in goes back to the login page with a message, not to an error page.

Everything here is inert unless ``OIDC_ISSUER`` is set (``enabled()``).
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.generic import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from apps.accounts.services import oidc_user_sign_in

logger = logging.getLogger(__name__)

#: mozilla-django-oidc's endpoint settings, and where the discovery document names each.
DISCOVERED_SETTINGS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
_metadata: dict[str, dict[str, Any]] = {}


class SignOnRefused(Exception):
    """A sign-in the portal does not accept; the message is shown on the login page."""


def enabled() -> bool:
    return bool(getattr(settings, "OIDC_ISSUER", None))


def provider_metadata() -> dict[str, Any]:
    """The provider's discovery document (``<issuer>/.well-known/openid-configuration``)."""
    issuer = settings.OIDC_ISSUER
    if issuer not in _metadata:
        url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
        if document.get("issuer") != issuer:
            raise SignOnRefused(
                f"The provider at {url} calls itself {document.get('issuer')!r}, "
                f"not OIDC_ISSUER={issuer!r}."
            )
        missing = [key for key in DISCOVERED_SETTINGS.values() if not document.get(key)]
        if missing:
            raise SignOnRefused(f"The provider's discovery document lacks {', '.join(missing)}.")
        _metadata[issuer] = document
    return _metadata[issuer]


def oidc_setting(attr: str, *default: Any) -> Any:
    """A mozilla-django-oidc setting; the provider's endpoints come from discovery."""
    if attr in DISCOVERED_SETTINGS:
        return provider_metadata()[DISCOVERED_SETTINGS[attr]]
    return import_from_settings(attr, *default)


def check_id_token_claims(payload: dict[str, Any], *, issuer: str, client_id: str) -> None:
    """Refuse an ID token issued by someone else or for another client (OIDC Core 3.1.3.7)."""
    if payload.get("iss") != issuer:
        raise SuspiciousOperation(
            f"The ID token's issuer {payload.get('iss')!r} is not {issuer!r}."
        )
    audience = payload.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences:
        raise SuspiciousOperation(f"The ID token is for {audience!r}, not for {client_id!r}.")
    if len(audiences) > 1 and payload.get("azp") != client_id:
        raise SuspiciousOperation(
            f"The ID token has several audiences and was issued to {payload.get('azp')!r}."
        )


class PortalOIDCBackend(OIDCAuthenticationBackend):
    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The library reads the provider's endpoints here, for every authenticate() call of any
        # kind; they come from discovery, over the network, so they are read only when a
        # sign-on needs them: a provider that is down must not break password logins.
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.UserModel = get_user_model()

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:  # the library reads these names
        return oidc_setting("OIDC_OP_TOKEN_ENDPOINT")

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:
        return oidc_setting("OIDC_OP_USER_ENDPOINT")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:
        return oidc_setting("OIDC_OP_JWKS_ENDPOINT")

    def authenticate(self, request: Any, **kwargs: Any) -> Any:
        # Only the callback view passes a nonce; a password login (even with ?code= in its
        # address) must not start a token exchange.
        if request is None or "nonce" not in kwargs:
            return None
        try:
            return super().authenticate(request, **kwargs)
        except (SuspiciousOperation, SignOnRefused, requests.RequestException) as exc:
            logger.warning("single sign-on refused: %s", exc)
            request.sign_on_refusal = "the provider's answer was refused"
        except ValidationError as exc:
            logger.warning("single sign-on refused: %s", exc)
            request.sign_on_refusal = " ".join(exc.messages)
        return None

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        # The library looks the key up by the header's "kid" and fails with a KeyError (a 500)
        # on a token without one: refuse malformed headers first.
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise SuspiciousOperation(f"The ID token is malformed ({exc}).") from None
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(
                f"The ID token's algorithm {header.get('alg')!r} is not {self.OIDC_RP_SIGN_ALGO!r}."
            )
        if not isinstance(header.get("kid"), str):
            raise SuspiciousOperation("The ID token's header names no key ('kid').")
        payload = super().verify_token(token, **kwargs)  # signature, expiry, nonce
        check_id_token_claims(
            payload, issuer=settings.OIDC_ISSUER, client_id=self.OIDC_RP_CLIENT_ID
        )
        return payload

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if userinfo.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("The userinfo answer is about another subject.")
        return oidc_user_sign_in(
            issuer=settings.OIDC_ISSUER,
            claims={**payload, **userinfo},
            username_claim=settings.OIDC_USERNAME_CLAIM,
            groups_claim=settings.OIDC_GROUPS_CLAIM,
            staff_group=settings.OIDC_STAFF_GROUP,
        )


class SignOnStartView(OIDCAuthenticationRequestView):
    get_settings = staticmethod(oidc_setting)

    def __init__(self, **kwargs: Any) -> None:
        # The library reads the endpoints here, outside any error handling: read in dispatch.
        View.__init__(self, **kwargs)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
            self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        except (SignOnRefused, requests.RequestException) as exc:
            logger.warning("single sign-on unavailable: %s", exc)
            messages.error(request, "Single sign-on is unavailable: the provider did not answer.")
            return HttpResponseRedirect(reverse("login"))
        return super().dispatch(request, *args, **kwargs)


class SignOnCallbackView(OIDCAuthenticationCallbackView):
    get_settings = staticmethod(oidc_setting)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not enabled():
            raise Http404("Single sign-on is not configured.")
        return super().dispatch(request, *args, **kwargs)

    def login_failure(self) -> HttpResponse:
        reason = getattr(self.request, "sign_on_refusal", "it did not complete; try again")
        messages.error(self.request, f"Single sign-on failed: {reason}")
        return HttpResponseRedirect(reverse("login"))
