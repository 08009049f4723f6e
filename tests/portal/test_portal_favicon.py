"""Browsers ask every site for /favicon.ico: the portal answers it (no 404 in the log)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_it_redirects_the_favicon_to_the_static_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("/static/img/favicon.svg")


def test_pages_name_their_icon(client):
    html = client.get("/login/").content.decode()
    assert '<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">' in html
