from __future__ import annotations

import io
import os
import pty
import sys

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command

from apps.accounts.middleware import user_for_token
from tests.processes import ROOT, manage, run_manage

pytestmark = pytest.mark.django_db


def test_it_creates_a_user_and_prints_a_token_last(capsys):
    call_command("createuser", "carol", "--groups", "lab,tem", "--staff")
    out = capsys.readouterr().out
    key = out.strip().splitlines()[-1]
    user = User.objects.get(username="carol")
    assert user.is_staff and not user.has_usable_password()
    assert sorted(user.groups.values_list("name", flat=True)) == ["lab", "tem"]
    assert user_for_token(key) == user
    assert "createuser carol --invite" in out


def test_it_reads_a_password_from_stdin_and_reuses_groups(capsys):
    Group.objects.create(name="lab")
    stdin = io.StringIO("s3cret-pass-4d\n")
    call_command(
        "createuser",
        "dan",
        "--groups",
        "lab",
        "--email",
        "dan@example.org",
        "--password-stdin",
        stdin=stdin,
    )
    user = User.objects.get(username="dan")
    assert user.check_password("s3cret-pass-4d") and not user.is_staff
    assert user.email == "dan@example.org"
    assert Group.objects.count() == 1


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short", "too short"), ("password123", "too common"), ("dan-the-user", "too similar")],
)
def test_it_applies_the_password_validators(password, reason, capsys):
    with pytest.raises(CommandError, match=reason):
        call_command(
            "createuser", "dan-the-user", "--password-stdin", stdin=io.StringIO(password + "\n")
        )
    assert not User.objects.exists()


def test_it_takes_no_password_on_the_command_line():
    with pytest.raises(CommandError, match="unrecognized arguments: s3cret-pass-4d"):
        call_command("createuser", "dan", "--password", "s3cret-pass-4d")
    assert not User.objects.exists()


def test_it_prompts_only_on_a_terminal():
    with pytest.raises(CommandError, match="--password-stdin"):
        call_command("createuser", "dan", "--password", stdin=io.StringIO("s3cret-pass-4d\n"))
    assert not User.objects.exists()


def test_it_refuses_a_duplicate_username_and_says_what_works(capsys):
    User.objects.create_user("carol")
    with pytest.raises(CommandError, match=r"already exists: add --password .* or --invite"):
        call_command("createuser", "carol")
    with pytest.raises(
        CommandError, match="change staff status, groups and e-mail address in the admin"
    ):
        call_command("createuser", "carol", "--groups", "new")
    assert User.objects.count() == 1
    assert not Group.objects.exists()


def test_it_sets_the_password_of_an_existing_user(capsys):
    carol = User.objects.create_user("carol")
    call_command("createuser", "carol", "--password-stdin", stdin=io.StringIO("n3w-pass-4d-stem\n"))
    carol.refresh_from_db()
    assert carol.check_password("n3w-pass-4d-stem")
    assert "Set a new password for carol" in capsys.readouterr().out
    with pytest.raises(CommandError, match="too short"):
        call_command("createuser", "carol", "--password-stdin", stdin=io.StringIO("short\n"))
    carol.refresh_from_db()
    assert carol.check_password("n3w-pass-4d-stem")


def test_it_invites_with_a_set_password_link(capsys, client, client_for):
    call_command("createuser", "erin", "--groups", "lab", "--invite", "--base-url", "http://portal")
    link = capsys.readouterr().out.strip().splitlines()[-1]
    assert link.startswith("http://portal/password/set/")
    erin = User.objects.get(username="erin")
    assert not erin.has_usable_password()
    assert not erin.api_tokens.exists()
    form = client.get(link.removeprefix("http://portal"), follow=True)
    assert "Welcome to LiberTEM Portal" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "erin-pw-4d-stem", "new_password2": "erin-pw-4d-stem"},
    )
    assert done.status_code == 302 and done["Location"] == "/"
    assert client.session["_auth_user_id"] == str(erin.pk)
    erin.refresh_from_db()
    assert erin.check_password("erin-pw-4d-stem")
    # The link is used up: it is bound to the password it replaced.
    again = client_for(None).get(link.removeprefix("http://portal"), follow=True)
    assert "Link not valid" in again.content.decode()


def test_it_prints_a_fresh_login_link_for_the_local_admin(capsys, client):
    call_command("loginlink", "--base-url", "http://127.0.0.1:8123/")
    link = capsys.readouterr().out.strip().splitlines()[-1]
    assert link.startswith("http://127.0.0.1:8123/login/link/")
    admin = User.objects.get(username="admin")
    assert admin.is_staff and not admin.has_usable_password()
    assert client.get(link.removeprefix("http://127.0.0.1:8123")).status_code == 302
    assert client.session["_auth_user_id"] == str(admin.pk)
    client.post("/logout/")
    # Logged out: a second run of the command lets the admin back in.
    call_command("loginlink", "--base-url", "http://127.0.0.1:8123")
    second = capsys.readouterr().out.strip().splitlines()[-1]
    assert second != link
    assert client.get(second.removeprefix("http://127.0.0.1:8123")).status_code == 302
    assert client.session["_auth_user_id"] == str(admin.pk)


def test_it_refuses_a_login_link_for_an_unknown_or_inactive_user(capsys):
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("loginlink", "nobody")
    User.objects.create_user("gone", is_active=False)
    with pytest.raises(CommandError, match="deactivated"):
        call_command("loginlink", "gone")


def test_it_exits_non_zero_with_one_line_on_stderr(tmp_path):
    # A real process: the exit code and stderr a shell script sees.
    env = {"VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    manage(env, "migrate", "-v0")
    first = run_manage(env, "createuser", "x", timeout=60)
    assert first.returncode == 0
    again = run_manage(env, "createuser", "x", timeout=60)
    assert again.returncode != 0
    assert again.stderr.strip().count("\n") == 0
    assert "already exists" in again.stderr


def test_it_prompts_for_the_password_on_a_terminal(tmp_path):
    # A real terminal (a pty): the password is typed twice and never echoed.
    env = {"VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    manage(env, "migrate", "-v0")
    pid, fd = pty.fork()
    if pid == 0:  # the child: manage.py on the terminal
        os.chdir(ROOT)
        os.execve(  # noqa: S606 - the child of pty.fork, exec without a shell
            sys.executable, [sys.executable, "manage.py", "createuser", "tty", "--password"], env
        )
    transcript = b""
    for answer in (b"tty-pw-4d-stem\n", b"tty-pw-4d-stem\n"):
        transcript += _read_until(fd, b": ")
        os.write(fd, answer)
    transcript += _read_until(fd, None)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, transcript
    assert b"Password (again): " in transcript
    assert b"tty-pw-4d-stem" not in transcript
    check = "from django.contrib.auth.models import User; print(User.objects.get(username='tty').check_password('tty-pw-4d-stem'))"
    assert manage(env, "shell", "-c", check).strip().splitlines()[-1] == "True"


def _read_until(fd: int, marker: bytes | None) -> bytes:
    data = b""
    while marker is None or not data.endswith(marker):
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        data += chunk
    return data
