"""The admin pages in a browser, clicked through as an administrator would.

Debian's Chromium (``/usr/bin/chromium``) driven by Playwright against ``roomsync serve`` of a
whole installation (see ``support.py``). Without that browser the tests skip, saying why; under
CI they fail instead. With ``ROOMSYNC_SCREENSHOTS`` set to a directory, full-page screenshots of
the overview, a person's page and the differences page are written there (``web/docs/``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from roomsync.domain import EventFields
from roomsync_ews_common.testing import SimulatorUser
from roomsync_exchange2013.connector import Exchange2013Connector
from support import ALICE, CAROL, ROOM1, ROOM2, Installation, installation, next_weekday_at

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS_ENV = "ROOMSYNC_SCREENSHOTS"
UNKNOWN_KEY = "This key is unknown, revoked, or not an admin key."
NOT_ADMIN = "This key has no admin scope; the pages are for administrators."


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        why = f"{CHROMIUM} is missing (Debian's package chromium); the admin pages' browser tests need it"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield found
        finally:
            found.close()


@pytest.fixture(scope="module")
def site(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    """One served installation for the module (the browser is checked for first)."""
    with installation(tmp_path_factory.mktemp("pages")) as found:
        found.serve()
        yield found


@pytest.fixture
def page(browser: Browser, site: Installation) -> Iterator[Page]:
    """A fresh browser profile per test: no cookies, so no session."""
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def outlook(site: Installation) -> Iterator[SimulatorUser]:
    """The persons in Outlook: EWS with their own credentials, behind roomsync's back."""
    user = SimulatorUser(
        site.ews.ews_url, Exchange2013Connector.request_server_version, Exchange2013Connector
    )
    try:
        yield user
    finally:
        user.close()


def screenshot(page: Page, name: str) -> None:
    directory = os.environ.get(SCREENSHOTS_ENV)
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(directory) / name), full_page=True)


def sign_in_with(page: Page, key: str) -> None:
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def sign_in(page: Page, site: Installation) -> None:
    page.goto("/admin")
    sign_in_with(page, site.key("admin"))
    expect(page).to_have_url(f"{site.url}/admin")


def at_sign_in(page: Page, site: Installation, next_path: str) -> None:
    expect(page).to_have_url(f"{site.url}/admin/signin?next={next_path}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("link", name="Overview")).to_have_count(0)  # no navigation for strangers


def sync(site: Installation, email: str) -> dict[str, object]:
    answer = site.client(site.key("admin")).post(f"/api/v1/admin/persons/{email}/sync")
    assert answer.status_code == 200, answer.text
    report: dict[str, object] = answer.json()
    return report


def person_row(page: Page, email: str) -> Locator:
    return page.locator("table.persons tbody tr").filter(has=page.get_by_role("link", name=email, exact=True))


def test_only_a_live_admin_key_signs_in_and_revoking_it_ends_the_session(
    page: Page, site: Installation
) -> None:
    page.goto("/admin")
    at_sign_in(page, site, "/admin")

    sign_in_with(page, "rsk_this-is-no-key")
    expect(page.get_by_role("alert")).to_have_text(UNKNOWN_KEY)
    sign_in_with(page, site.key("read"))
    expect(page.get_by_role("alert")).to_have_text(NOT_ADMIN)
    page.goto("/admin")  # neither refusal left a session behind
    at_sign_in(page, site, "/admin")

    made = json.loads(site.roomsync("--json", "api-key", "add", "pages-admin", "--scope", "admin").stdout)
    page.goto("/admin/log")
    at_sign_in(page, site, "/admin/log")
    sign_in_with(page, made["key"])
    expect(page).to_have_url(f"{site.url}/admin/log")  # back where the administrator was going
    expect(page.get_by_role("heading", level=1)).to_have_text("Recent log")
    page.get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    [listed] = [
        k for k in json.loads(site.roomsync("--json", "api-key", "list").stdout) if k["name"] == "pages-admin"
    ]
    expect(page.locator("header")).to_contain_text(f"API key {listed['id']} (pages-admin)")

    site.roomsync("api-key", "revoke", listed["id"])
    page.reload()

    at_sign_in(page, site, "/admin")
    sign_in_with(page, made["key"])
    expect(page.get_by_role("alert")).to_have_text(UNKNOWN_KEY)


def test_a_failing_person_is_marked_in_plain_words_and_the_sync_test_names_the_refused_logon(
    page: Page, site: Installation
) -> None:
    assert sync(site, CAROL)["ok"] is False
    assert sync(site, ALICE)["ok"] is True
    sign_in(page, site)

    carol = person_row(page, CAROL)
    expect(carol).to_have_class(re.compile(r"\bfailing\b"))
    expect(carol.locator("td").nth(3)).to_have_text("1")  # failures in a row
    expect(carol.locator("strong")).to_have_text(re.compile(r"^Credentials refused: check the account"))
    expect(carol.locator("small.detail")).to_contain_text("refused the logon of svc@example.org")
    alice = person_row(page, ALICE)
    expect(alice).not_to_have_class(re.compile(r"\bfailing\b"))
    expect(alice.locator("td").nth(2)).not_to_have_text("never")  # her last success
    broken = page.locator("table.environments tbody tr").filter(has=page.get_by_role("link", name="broken"))
    expect(broken.locator("td").nth(3)).to_have_text("1")
    screenshot(page, "overview.png")

    page.get_by_label("only failing").check()
    page.get_by_role("button", name="Show").click()
    expect(page.locator("table.persons tbody tr")).to_have_count(1)
    expect(person_row(page, CAROL)).to_have_count(1)

    page.get_by_role("link", name=CAROL, exact=True).click()
    expect(page).to_have_url(f"{site.url}/admin/persons/{CAROL.replace('@', '%40')}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Carol")
    expect(page.locator("dl.facts dt:text-is('May book for them') + dd")).to_have_text("no one else")
    page.get_by_role("button", name="Run sync test").click()

    steps = page.locator("table.steps tbody tr")
    expect(steps.locator("td:first-child")).to_have_text(
        ["assigned", "plugin", "connect", "read", "write", "free/busy", "change detection"]
    )
    expect(steps.nth(0).locator("td").nth(1)).to_have_text("ok")
    connect = steps.nth(2)
    expect(connect).to_have_class(re.compile(r"\bfailing\b"))
    expect(connect.locator("td").nth(1)).to_have_text("failed")
    expect(connect.locator("td").nth(2)).to_contain_text(
        "refused the logon of svc@example.org (HTTP 401, Basic authentication)"
    )
    expect(steps.nth(3).locator("td").nth(2)).to_have_text("not tried: the connect step failed")
    screenshot(page, "person.png")


def test_a_title_changed_in_outlook_is_put_back_with_use_rooms(
    page: Page, site: Installation, outlook: SimulatorUser
) -> None:
    from exchangelib.items import SEND_TO_NONE

    api = site.client(site.key("admin"))
    start = next_weekday_at(9, days=3)
    made = api.post(
        "/api/v1/reservations",
        json={
            "title": "Budget review",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "timezone": "Europe/Berlin",
            "organizer": ALICE,
            "rooms": [ROOM1],
        },
    )
    assert made.status_code == 201, made.text
    assert sync(site, ALICE)["ok"] is True
    assert "Budget review" in site.ews.calendar_subjects(ALICE)
    [item] = [i for i in outlook.account(ALICE).calendar.all() if i.subject == "Budget review"]
    item.subject = "Budget review (moved to Friday)"  # as Outlook saves it: the subject alone
    item.save(update_fields=["subject"], send_meeting_invitations=SEND_TO_NONE)
    assert "Budget review (moved to Friday)" in site.ews.calendar_subjects(ALICE)

    sign_in(page, site)
    page.get_by_role("link", name=ALICE, exact=True).click()
    page.locator(".actions").get_by_role("link", name="Differences").click()
    expect(page).to_have_url(re.compile(r"/admin/differences\?person=alice%40example\.org$"))
    difference = page.locator("section.difference").filter(
        has=page.get_by_role("heading", name=re.compile("^Budget review"))
    )
    expect(difference).to_have_count(1)
    expect(difference).to_have_attribute("data-kind", "fields-differ")
    title = difference.locator("table.values tbody tr").filter(has=page.locator("th", has_text="title"))
    expect(title.locator("td.rooms-value")).to_have_text("Budget review")
    expect(title.locator("td.exchange-value")).to_have_text("Budget review (moved to Friday)")
    screenshot(page, "differences.png")

    difference.get_by_role("button", name="Use ROOMS").click()

    expect(page.get_by_role("status")).to_have_text(
        "'Budget review' in alice@example.org: entry rewritten from the reservation."
    )
    subjects = site.ews.calendar_subjects(ALICE)
    assert "Budget review" in subjects and "Budget review (moved to Friday)" not in subjects
    shown = api.get(f"/api/v1/reservations/{made.json()['id']}").json()
    assert shown["reservation"]["title"] == "Budget review"  # ROOMS kept its own value
    page.goto(f"/admin/differences?person={ALICE}")
    expect(page.locator("section.difference")).to_have_count(0)
    expect(page.get_by_text("No differences.")).to_be_visible()


def test_a_calendar_that_cannot_be_read_is_named_and_stops_no_one_else(
    page: Page, site: Installation
) -> None:
    """Carol's environment refuses the logon: she is named as not compared, everyone else is."""
    sign_in(page, site)
    page.get_by_role("navigation").get_by_role("link", name="Differences").click()

    not_compared = page.locator("section.not-compared")
    expect(not_compared).to_contain_text(CAROL)
    expect(not_compared).to_contain_text("refused the logon")
    expect(page.get_by_text("No differences.", exact=True)).to_have_count(0)


def test_the_log_lists_what_alices_cycle_did(page: Page, site: Installation, outlook: SimulatorUser) -> None:
    start = next_weekday_at(12, days=4)
    outlook.create(
        ALICE,
        EventFields(
            title="Team lunch",
            start=start,
            end=start + timedelta(hours=1),
            timezone="Europe/Berlin",
            rooms=(ROOM2,),
        ),
    )
    sign_in(page, site)
    page.get_by_role("link", name=ALICE, exact=True).click()
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#cycle-result")).to_have_text(re.compile(r"\b1 booked from Outlook\b"))

    page.get_by_role("navigation").get_by_role("link", name="Log").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Recent log")
    booked = page.locator("table.log tbody tr").filter(has_text="reservation from Outlook entry 'Team lunch'")
    expect(booked).to_have_count(1)
    expect(booked.locator("td")).to_have_text(
        [re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"), ALICE, "info", "booked", re.compile("Team lunch")]
    )


def test_the_log_lists_each_cycle_of_alice(page: Page, site: Installation) -> None:
    """A quiet cycle writes nothing to the sync log; the page lists the cycles the service ran."""
    sign_in(page, site)
    page.goto(f"/admin/log?person={ALICE}")
    before = page.locator("table.cycles tbody tr").filter(has_text=ALICE).count()

    assert sync(site, ALICE)["ok"] is True  # a quiet cycle: nothing to write either way
    page.reload()

    rows = page.locator("table.cycles tbody tr").filter(has_text=ALICE)
    expect(rows).to_have_count(before + 1, timeout=2_000)
    expect(rows.first).to_contain_text("no changes")
