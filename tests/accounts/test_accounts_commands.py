from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command

from apps.accounts.middleware import user_for_token

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_it_creates_a_user_and_prints_a_token_last(capsys):
    call_command("createuser", "carol", "--groups", "lab,tem", "--staff")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    user = User.objects.get(username="carol")
    assert user.is_staff and not user.has_usable_password()
    assert sorted(user.groups.values_list("name", flat=True)) == ["lab", "tem"]
    assert user_for_token(key) == user


def test_it_reuses_existing_groups_and_sets_a_password(capsys):
    Group.objects.create(name="lab")
    call_command("createuser", "dan", "--groups", "lab", "--password", "s3cret-pass")
    user = User.objects.get(username="dan")
    assert user.check_password("s3cret-pass") and not user.is_staff
    assert Group.objects.count() == 1


def test_it_refuses_a_duplicate_username(capsys):
    User.objects.create_user("carol")
    with pytest.raises(CommandError, match="already exists"):
        call_command("createuser", "carol", "--groups", "new")
    assert User.objects.count() == 1
    assert not Group.objects.exists()


def test_it_exits_non_zero_with_one_line_on_stderr(tmp_path):
    # A real process: the exit code and stderr a shell script sees.
    env = {"VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "manage.py", "migrate", "-v0"]
    subprocess.run(run, cwd=ROOT, env=env, check=True, timeout=120)
    first = subprocess.run(
        [sys.executable, "manage.py", "createuser", "x"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert first.returncode == 0
    again = subprocess.run(
        [sys.executable, "manage.py", "createuser", "x"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode != 0
    assert again.stderr.strip().count("\n") == 0
    assert "already exists" in again.stderr
