from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from apps.datasets.models import Dataset

pytestmark = pytest.mark.django_db


def test_it_registers_and_prints_one_json_line(users, h5_file, capsys):
    call_command(
        "register_dataset", str(h5_file), "--name", "H5", "--owner", "alice", "--groups", "lab"
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    ds = Dataset.objects.get()
    assert json.loads(lines[0]) == {
        "id": ds.pk,
        "name": "H5",
        "nav_shape": [3, 4],
        "sig_shape": [8, 8],
        "dtype": "|u1",
        "format": "hdf5",
    }
    assert ds.owner == users.owner and ds.groups.get().name == "lab"


def test_it_takes_format_params(users, data_root, capsys):
    np.zeros((6, 4, 4), dtype="<u2").tofile(data_root / "plain.bin")
    call_command(
        "register_dataset",
        "plain.bin",
        "--name",
        "P",
        "--owner",
        "bob",
        "--format",
        "raw",
        "--param",
        "nav_shape=[2,3]",
        "--param",
        "sig_shape=[4, 4]",
        "--param",
        "dtype=<u2",
    )
    assert json.loads(capsys.readouterr().out)["nav_shape"] == [2, 3]


DEEP = "{key}=" + "[" * 5000 + "]" * 5000


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["../data-evil/x.npy", "--name", "n", "--owner", "alice"], "outside the data folders"),
        (["scan.npy", "--name", "n", "--owner", "nobody"], "no user named"),
        (["scan.npy", "--name", "n", "--owner", "alice", "--format", "tiff"], "Unknown format"),
        (["scan.npy", "--name", "n", "--owner", "alice", "--groups", "other"], "not a member"),
        (["scan.npy", "--name", "n", "--owner", "alice", "--param", "nope"], "KEY=VALUE"),
        (  # the parser would recurse until a RecursionError
            [
                "scan.npy",
                "--name",
                "n",
                "--owner",
                "alice",
                "--param",
                DEEP.format(key="nav_shape"),
            ],
            "--param nav_shape: the value is nested more than 16 levels deep.",
        ),
        (
            ["scan.npy", "--name", "n", "--owner", "alice", "--param", "x=1"],
            "no parameters are taken",
        ),
    ],
)
def test_it_fails_with_one_clear_line(users, npy_file, args, text):
    with pytest.raises(CommandError) as info:
        call_command("register_dataset", *args)
    assert text in str(info.value) and "\n" not in str(info.value)
    assert Dataset.objects.count() == 0


def test_params_nested_as_deep_as_the_api_allows_are_taken():
    from apps.datasets.management.commands.register_dataset import parse_param

    assert parse_param("p=" + "[" * 16 + "1" + "]" * 16) == (
        "p",
        json.loads("[" * 16 + "1" + "]" * 16),
    )
    with pytest.raises(CommandError, match="--param p: the value is nested more than 16 levels"):
        parse_param("p=" + "[" * 17 + "]" * 17)
