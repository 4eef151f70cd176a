"""The pane's sign-in dialog, where Outlook has no single sign-on, in a real browser.

The Office.js double refuses single sign-on (13012, as Outlook does where it is not supported);
the pane opens ``signin.html`` in an Office dialog (a popup in the double), which goes to the
identity platform's sign-in page (the Exchange Online simulator's), comes back with a code,
redeems it with its PKCE verifier and hands the token to the pane.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from support import ALICE, Installation, next_weekday_at
from test_addin_pane import DOUBLE, OFFICE_JS, meeting, outlook
from test_admin_pages import browser as browser  # the module-scoped Chromium, skipped if missing

pytestmark = pytest.mark.browser


@pytest.fixture
def signing_in(browser: Browser, served: Installation) -> Iterator[Page]:
    """A pane whose Outlook has no single sign-on; the simulator's https is trusted by its own CA,
    which Chromium does not know, hence the context ignores certificate errors (test only)."""
    served.graph.register_redirect_uri(f"{served.url}/addin/signin.html")
    context = browser.new_context(
        base_url=served.url, viewport={"width": 420, "height": 720}, ignore_https_errors=True
    )
    context.set_default_timeout(20_000)
    double = DOUBLE.read_text(encoding="utf-8")

    def office_js(route: Route) -> None:
        route.fulfill(status=200, content_type="application/javascript", body=double)

    context.route(OFFICE_JS, office_js)
    try:
        yield context.new_page()
    finally:
        context.close()


def _open(page: Page, served: Installation) -> Page:
    start = next_weekday_at(8, days=13)
    given = {**meeting(served, start), "token": None, "ssoError": 13012}
    page.add_init_script(f"window.__outlookMeeting = {json.dumps(given)};")
    with page.expect_popup() as opened:
        page.goto(f"{served.url}/addin/taskpane.html")
    dialog = opened.value
    expect(page.get_by_role("status")).to_have_text("Please sign in in the window that opened.")
    return dialog


def test_without_single_sign_on_the_dialog_signs_the_user_in_and_the_pane_books_as_them(
    signing_in: Page, served: Installation
) -> None:
    dialog = _open(signing_in, served)
    expect(dialog.get_by_label("Email")).to_have_value(ALICE)  # the login hint: Outlook's user
    dialog.get_by_label("Password").fill("wrong")
    dialog.get_by_role("button", name="Sign in").click()
    expect(dialog.get_by_text("Your account or password is incorrect")).to_be_visible()
    dialog.get_by_label("Password").fill("alice-password")
    dialog.get_by_role("button", name="Sign in").click()

    dialog.wait_for_event("close")
    expect(signing_in.locator("#rooms li.room")).to_have_count(3)
    signing_in.get_by_role("button", name="Book Room 2").click()
    expect(signing_in.get_by_role("status")).to_have_text("Booked: Room 2")
    reservation_id = outlook(signing_in)["customProperties"]["roomsyncReservation"]
    shown = served.client(served.key("admin")).get(f"/api/v1/reservations/{reservation_id}").json()
    assert shown["reservation"]["organizer"] == ALICE
    assert shown["journal"][0]["actor"] == ALICE  # booked with Alice's own token, from the dialog


def test_closing_the_sign_in_dialog_says_so_and_books_nothing(signing_in: Page, served: Installation) -> None:
    dialog = _open(signing_in, served)
    dialog.close()
    expect(signing_in.get_by_role("status")).to_have_text(
        "Signing in did not work: the sign-in window was closed"
    )
    expect(signing_in.locator("#finder")).to_be_hidden()


def test_the_dialog_settings_are_public_and_name_the_issuer_endpoints(served: Installation) -> None:
    answer = httpx.get(f"{served.url}/addin/sign-in.json", trust_env=False)
    assert answer.status_code == 200, answer.text
    settings = answer.json()
    issuer = f"{served.graph.login_url}/{served.graph.tenant_id}"
    assert settings == {
        "authorization_endpoint": f"{issuer}/oauth2/v2.0/authorize",
        "token_endpoint": f"{issuer}/oauth2/v2.0/token",
        "client_id": served.graph.client_id,
        "scope": "api://roomsync/access_as_user",
    }
