"""Catalogue search returns exactly the visible datasets that match, never one more.

Each query runs for every role (owner alice, member bob, outsider eve, staff root) through the
API and the catalogue page; the expected ids come from a table of who owns and shares what and
which words each dataset carries, written independently of the search code. The same tests run
on PostgreSQL (its full-text search) in the services pass of ``make test``.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import Group

from apps.datasets.folders import folder_declare
from apps.datasets.services import dataset_annotate, dataset_register

pytestmark = pytest.mark.django_db

ROLES = ("owner", "member", "outsider", "staff")

# name, owner role, groups, tags, annotations
CATALOGUE = (
    ("sige-private", "owner", [], ["SiGe", "strain"], {"sample": "SiGe 20%", "voltage": "300 kV"}),
    ("sige-lab", "owner", ["lab"], ["SiGe"], {"sample": "SiGe 40%", "operator": "alice"}),
    ("gold-lab", "member", ["lab"], ["Au"], {"sample": "gold particles"}),
    ("sige-eve", "outsider", [], ["SiGe"], {"sample": "SiGe secret", "voltage": "300 kV"}),
    ("graphene", "outsider", ["other"], ["2D"], {"sample": "graphene"}),
)


def visible(role: str, owner: str, groups: list[str]) -> bool:
    in_lab = role in ("owner", "member")
    return role == "staff" or owner == role or ("lab" in groups and in_lab)


# query string -> predicate over (name, owner, groups, tags, annotations)
QUERIES = {
    "": lambda n, o, g, t, a: True,
    "q=sige": lambda n, o, g, t, a: "sige" in n or "SiGe" in t or "SiGe" in a.get("sample", ""),
    "q=secret": lambda n, o, g, t, a: "secret" in a.get("sample", ""),
    "tag=sige": lambda n, o, g, t, a: "SiGe" in t,
    "tag=SiGe&tag=strain": lambda n, o, g, t, a: {"SiGe", "strain"} <= set(t),
    "annotation=voltage": lambda n, o, g, t, a: "voltage" in a,
    "annotation=sample:gold": lambda n, o, g, t, a: "gold" in a.get("sample", ""),
    "owner=eve": lambda n, o, g, t, a: o == "outsider",
    "group=lab": lambda n, o, g, t, a: "lab" in g,
    "group=other": lambda n, o, g, t, a: "other" in g,
    "q=kV&tag=SiGe": lambda n, o, g, t, a: "SiGe" in t and "kV" in a.get("voltage", ""),
}


@pytest.fixture
def catalogue(users: SimpleNamespace, settings: Any, tmp_path: Path) -> dict[str, int]:
    root = (tmp_path / "data").resolve()
    root.mkdir()
    settings.DATA_ROOTS = [root]
    folder_declare(path=str(root), open_to_all=True)
    users.outsider.groups.add(Group.objects.get(name="other"))
    ids = {}
    for i, (name, role, groups, tags, annos) in enumerate(CATALOGUE):
        path = root / f"{name}.npy"
        np.save(path, np.full((2, 3, 4, 4), i, dtype=np.uint16))
        owner = getattr(users, role)
        ds = dataset_register(owner=owner, name=name, path=str(path), groups=groups)
        # Tags and annotations written after registration, as the page and the API do.
        dataset_annotate(user=owner, dataset=ds, tags=tags, annotations=annos)
        ids[name] = ds.pk
    return ids


def expected(role: str, query: str, ids: dict[str, int]) -> set[int]:
    return {
        ids[name]
        for name, owner, groups, tags, annos in CATALOGUE
        if visible(role, owner, groups) and QUERIES[query](name, owner, groups, tags, annos)
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("query", list(QUERIES))
def test_it_finds_exactly_the_visible_matches(catalogue, users, client_for, role, query):
    client = client_for(getattr(users, role))
    data = client.get(f"/api/datasets/?{query}").json()
    want = expected(role, query, catalogue)
    assert {d["id"] for d in data["datasets"]} == want
    assert data["count"] == len(want)
    page = client.get(f"/datasets/?{query}")
    assert page.status_code == 200
    shown = {int(pk) for pk in re.findall(r'data-dataset="(\d+)"', page.content.decode())}
    assert shown == want


def test_it_does_not_tell_anyone_about_hidden_tags_through_counts(catalogue, users, client_for):
    # eve's dataset carries the word "secret": nobody else finds it, not even as a count.
    for role in ("owner", "member"):
        data = client_for(getattr(users, role)).get("/api/datasets/?q=secret").json()
        assert data == {**data, "datasets": [], "count": 0, "pages": 1}
    assert client_for(None).get("/api/datasets/?q=secret").status_code == 401
