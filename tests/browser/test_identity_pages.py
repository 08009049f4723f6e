"""Sign-in flows and the Content-Security-Policy in a real Chromium against a live portal.

A new user invited with ``createuser --invite`` sets a password from the link; a user who forgot
theirs asks for a reset link (mailed to the server's console) and sets a new one; and every page
of the portal loads and runs its scripts under the Content-Security-Policy without a violation.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import Portal

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Runs before any script of each page: collects what the browser refused under the policy.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(RECORD_VIOLATIONS)
    yield context
    context.close()


def _log_in(page: Any, portal: Portal, user: str, password: str) -> None:
    page.goto(f"{portal.base}/login/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def _log_out(page: Any) -> None:
    page.click("form.logout button[type=submit]")
    page.wait_for_url(lambda url: "/login/" in url)


def _set_password(page: Any, password: str) -> None:
    page.fill("input[name=new_password1]", password)
    page.fill("input[name=new_password2]", password)
    page.click("form button[type=submit]")


def test_it_invites_a_user_who_sets_a_password_from_the_link(context: Any, portal: Portal):
    out = portal.manage("createuser", "carol", "--invite", "--base-url", portal.base)
    link = out.strip().splitlines()[-1]
    assert link.startswith(f"{portal.base}/password/set/")
    page = context.new_page()
    page.goto(link)
    assert page.locator("h1").inner_text() == "Welcome to LiberTEM Portal"
    _set_password(page, "short")  # the validators speak on the page
    assert "too short" in page.locator(".error").first.inner_text()
    _set_password(page, "carol-pw-4d-stem")
    page.wait_for_url(f"{portal.base}/")
    assert page.locator("h1").inner_text() == "Welcome, carol"
    assert "your password is set" in page.locator(".messages").inner_text()
    _log_out(page)
    page.goto(link)  # used up
    assert page.locator("h1").inner_text() == "Link not valid"
    _log_in(page, portal, "carol", "carol-pw-4d-stem")
    assert page.locator("h1").inner_text() == "Welcome, carol"


def test_it_resets_a_forgotten_password_by_a_mailed_link(context: Any, portal: Portal):
    portal.manage(
        "createuser",
        "dave",
        "--email",
        "dave@example.org",
        "--password-stdin",
        stdin="dave-old-pw-4d\n",
    )
    page = context.new_page()
    page.goto(f"{portal.base}/login/")
    page.click("text=Forgot your password?")
    page.fill("input[name=email]", "dave@example.org")
    page.click("form button[type=submit]")
    page.wait_for_url(f"{portal.base}/password/reset/sent/")
    assert page.locator("h1").inner_text() == "Check your mail"
    link = _mailed_link(portal, "dave")
    page.goto(link)
    assert page.locator("h1").inner_text() == "Set a new password"
    _set_password(page, "dave-new-pw-4d")
    page.wait_for_url(f"{portal.base}/")
    _log_out(page)
    page.fill("input[name=username]", "dave")
    page.fill("input[name=password]", "dave-old-pw-4d")
    page.click("form button[type=submit]")
    assert "correct username and password" in page.locator(".error").inner_text()
    _log_in(page, portal, "dave", "dave-new-pw-4d")
    assert page.locator("h1").inner_text() == "Welcome, dave"


def _mailed_link(portal: Portal, user: str) -> str:
    """The reset link of the mail to ``user`` that the console e-mail backend printed."""
    deadline = time.monotonic() + 10
    pattern = re.compile(rf"account {user}\.\n.*?\n\n(http://\S+/password/set/\S+/)\n", re.DOTALL)
    while time.monotonic() < deadline:
        found = pattern.search(portal.log.read_text(errors="replace"))
        if found:
            return found.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no reset mail for {user} in {portal.log}")


def _a_dataset_and_job(portal: Portal) -> tuple[int, int]:
    """One of alice's datasets (the demo, registered here unless an earlier test did) and a job."""
    datasets = portal.api("alice", "/api/datasets/")["datasets"]
    if datasets:
        dataset = datasets[0]["id"]
    else:
        path = str(portal.data / "demo" / "demo.json")
        dataset = portal.api("alice", "/api/datasets/", {"name": "demo", "path": path})["id"]
    job = portal.api("alice", "/api/jobs/", {"dataset": dataset, "analysis": "sum", "params": {}})
    return dataset, job["id"]


def _visit(page: Any, url: str, ready: str | None = None) -> list[str]:
    response = page.goto(url)
    assert response.status == 200, url
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")
    if ready:
        page.wait_for_selector(ready, timeout=60_000)
    return page.evaluate("() => window.__cspViolations")


def test_it_runs_every_page_under_the_content_security_policy(context: Any, portal: Portal):
    portal.manage(
        "createuser", "csp-staff", "--staff", "--password-stdin", stdin="staff-pw-4d-stem\n"
    )
    dataset, job = _a_dataset_and_job(portal)
    page = context.new_page()
    console = []
    page.on("console", lambda m: console.append(m.text))
    violations = {}
    for path in ("/login/", "/password/reset/"):
        violations[path] = _visit(page, portal.base + path)
    _log_in(page, portal, "alice", portal.passwords["alice"])
    pages = {
        "/": None,
        "/datasets/": None,
        "/datasets/register/": None,
        f"/datasets/{dataset}/": None,
        # The analysis page's scripts draw the mean frame and the scan image on canvases.
        f"/datasets/{dataset}/analyze/": "#job-state[data-state=finished]",
        "/jobs/": None,
        f"/jobs/{job}/": None,
        "/tokens/": None,
    }
    for path, ready in pages.items():
        violations[path] = _visit(page, portal.base + path, ready)
    _log_out(page)
    _log_in(page, portal, "csp-staff", "staff-pw-4d-stem")
    for path in ("/status/", "/admin/", "/admin/auth/user/", "/admin/auth/user/add/"):
        violations[path] = _visit(page, portal.base + path)
    assert {path: found for path, found in violations.items() if found} == {}
    assert [m for m in console if "Content Security Policy" in m] == []


def test_it_asks_before_deleting_a_dataset_without_an_inline_handler(context: Any, portal: Portal):
    dataset, _ = _a_dataset_and_job(portal)
    page = context.new_page()
    _log_in(page, portal, "alice", portal.passwords["alice"])
    page.goto(f"{portal.base}/datasets/{dataset}/")
    asked = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.click("text=Delete dataset")
    assert asked and asked[0].startswith("Remove ")
    assert page.url == f"{portal.base}/datasets/{dataset}/"  # dismissed: nothing was deleted
    assert portal.api("alice", f"/api/datasets/{dataset}/")["id"] == dataset
    assert page.evaluate("() => window.__cspViolations") == []
