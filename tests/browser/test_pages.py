"""The browser apps in a real Chromium (Debian's, driven by Playwright),
through the real daemon: a customer's chat from the chat page to an agent's
desktop and back, a transfer to a second agent, the survey, the wallboard
following it all; login failures, CSRF, a dropped network, a supervisor
limited to one queue, the Chinese UI. Screenshots of each page go to
``tests/browser/artefacts/`` (the README shows current ones)."""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from acd import commands as cmds
from acd.adapters.daemon.config_file import ReportSettings, parse
from acd.adapters.daemon.conversations import Conversation
from acd.adapters.daemon.server import Server
from acd.adapters.security.passwords import hash_password
from tests.adapters.wsclient import IDENTITY_SECRET, identity_token

CHROMIUM = "/usr/bin/chromium"
ARTEFACTS = Path(__file__).parent / "artefacts"
TIMEOUT_MS = 10_000

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None and not Path(CHROMIUM).exists(),
    reason="never skipped in CI: ./scripts/test installs Debian's chromium",
)


def settings() -> Any:
    pw = {
        name: hash_password(f"{name}-pw", iterations=1000) for name in ("alice", "bob", "vic", "ada", "sam")
    }
    agent = {"profile": "chat", "skills": {"sales": 3, "support": 3}, "queues": {"sales": 1, "support": 1}}
    return parse(
        {
            "skills": ["sales", "support"],
            "server": {"listen": "127.0.0.1:0", "agent_grace_s": 30, "position_interval_s": 0.2},
            "queues": {
                "sales": {
                    "channels": ["chat"],
                    "skills": {"sales": 1},
                    "wrapup_s": 30,
                    "survey": True,
                    "dispositions": ["sale", "no-sale"],
                },
                "support": {"channels": ["chat"], "skills": {"support": 1}, "wrapup_s": 30},
                "phone": {"channels": ["voice"], "wrapup_s": 30},
            },
            "agents": {
                "alice": {**agent, "name": "Alice", "password_hash": pw["alice"]},
                "bob": {**agent, "name": "Bob", "queues": {"support": 1}, "password_hash": pw["bob"]},
                "vic": {
                    "profile": "voice",
                    "name": "Vic",
                    "queues": {"phone": 1},
                    "password_hash": pw["vic"],
                },
            },
            "supervisors": {
                "ada": {"password_hash": pw["ada"], "role": "admin"},
                "sam": {"password_hash": pw["sam"], "queues": ["support"]},
            },
            "desktop": {"canned_replies": ["One moment please."]},
            "webchat": {"identity_secret": IDENTITY_SECRET},
        },
        "browser.toml",
        env={},
    )


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    reports = ReportSettings(sqlite_path=str(tmp_path / "reports.sqlite3"))  # this test's own record
    s = Server(dataclasses.replace(settings(), reports=reports), port=0, agi_port=0)  # any free ports
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            await b.close()


class App:
    """One person's browser (its own cookies) on one page of the daemon."""

    def __init__(self, context: BrowserContext, page: Page, base: str) -> None:
        self.context, self.page, self.base = context, page, base
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.set_default_timeout(TIMEOUT_MS)

    async def shot(self, name: str) -> None:
        ARTEFACTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


async def open_app(browser: Browser, server: Server, path: str, locale: str = "en-US") -> App:
    context = await browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    base = f"http://127.0.0.1:{server.bound_port}"
    await page.goto(base + path)
    return App(context, page, base)


async def agent_logs_in(browser: Browser, server: Server, user: str) -> App:
    app = await open_app(browser, server, "/agent")
    await app.page.fill("input[name=user]", user)
    await app.page.fill("input[name=password]", f"{user}-pw")
    await app.page.click("#login button[type=submit]")
    await expect(app.page.locator("#net")).to_have_text("Connected")
    await app.page.select_option("#presence", "available")
    await expect(app.page.locator("#since")).to_contain_text("Available")
    return app


async def customer_starts(browser: Browser, server: Server, text: str, name: str = "Wang") -> App:
    app = await open_app(browser, server, "/chat?queue=sales")
    await app.page.fill("input[name=name]", name)
    await app.page.fill("textarea[name=text]", text)
    await app.page.click("#start button[type=submit]")
    await expect(app.page.locator("#talk")).to_be_visible()
    return app


async def supervisor_logs_in(browser: Browser, server: Server, user: str) -> App:
    app = await open_app(browser, server, "/supervisor")
    await app.page.fill("input[name=user]", user)
    await app.page.fill("input[name=password]", f"{user}-pw")
    await app.page.click("#login button[type=submit]")
    await expect(app.page.locator("#queues tbody tr").first).to_be_visible()
    return app


async def test_a_chat_from_the_customer_page_to_two_agents_and_the_survey(
    browser: Browser, server: Server
) -> None:
    wall = await supervisor_logs_in(browser, server, "ada")
    alice = await agent_logs_in(browser, server, "alice")
    bob = await agent_logs_in(browser, server, "bob")
    customer = await customer_starts(browser, server, "Is the blue one in stock?")

    # The offer, with the screen pop: the typed name is claimed, not verified.
    offer = alice.page.locator(".offer")
    await expect(offer).to_contain_text("New chat in sales")
    await expect(offer).to_contain_text("Wang")
    await expect(alice.page.locator("#pop")).to_contain_text("claimed, not verified")
    await alice.shot("agent-offer")
    ringing = wall.page.locator("#open tbody tr", has_text="Ringing")  # the wallboard's open contacts
    await expect(ringing).to_have_count(1)
    await ringing.locator("button").click()  # why is it (still) waiting?
    await expect(wall.page.locator("#why")).to_contain_text("offered")
    await alice.page.keyboard.press("Alt+a")  # accept from the keyboard
    await expect(alice.page.locator(".tab")).to_have_count(1)
    await expect(customer.page.locator("#status")).to_have_text("Alice joined the chat")

    # Messages both ways, in order.
    await alice.page.fill(".composer textarea", "Yes, we have three left.")
    await alice.page.press(".composer textarea", "Enter")
    await expect(customer.page.locator("#transcript")).to_contain_text("Yes, we have three left.")
    await customer.page.fill("#composer textarea", "Great, and delivery?")
    await customer.page.press("#composer textarea", "Enter")
    mine = alice.page.locator("#panel .transcript li")
    await expect(mine).to_have_count(3)  # her own reply in its place
    await expect(mine.nth(1)).to_contain_text("Yes, we have three left.")
    await expect(mine.nth(2)).to_contain_text("Great, and delivery?")
    await customer.shot("chat-connected")
    await alice.shot("agent-chat")

    # Transfer to support: Bob gets it with the whole transcript.
    await alice.page.select_option("#panel .actions select[aria-label='Transfer to queue']", "support")
    await alice.page.click("#panel .actions button:has-text('Transfer')")
    await expect(alice.page.locator(".tab")).to_have_count(0)
    await expect(bob.page.locator(".offer")).to_contain_text("New chat in support")
    await bob.page.click(".offer button:has-text('Accept')")
    transcript = bob.page.locator("#panel .transcript li")
    await expect(transcript).to_have_count(3)
    await expect(transcript.nth(0)).to_contain_text("Is the blue one in stock?")
    await expect(transcript.nth(2)).to_contain_text("Great, and delivery?")

    # The wallboard follows: sales answered one and transferred it, Bob is busy.
    await expect(wall.page.locator("#queues tbody tr", has_text="sales")).to_contain_text("100.0%")
    await expect(wall.page.locator("#agents tbody tr", has_text="Bob")).to_contain_text("Busy")
    await wall.shot("wallboard")

    # Bob ends (support asks no survey): the customer's page says so, Bob wraps up.
    await bob.page.click("#panel .actions button:has-text('End')")
    await expect(customer.page.locator("#status")).to_have_text("The chat has ended. Thank you!")
    await expect(bob.page.locator("#panel")).to_contain_text("The conversation ended")
    await bob.page.click("#panel .actions button:has-text('Wrap-up done')")
    await expect(bob.page.locator(".tab")).to_have_count(0)
    await expect(wall.page.locator("#agents tbody tr", has_text="Bob")).to_contain_text("Available")
    # Support handled one: Erlang C's staffing for it shows (the Needed column, a count of agents).
    needed = wall.page.locator("#queues tbody tr", has_text="support").locator("td").nth(8)
    await expect(needed).to_have_text(re.compile(r"^[0-9]+$"))
    for app in (wall, alice, bob, customer):
        assert not app.errors, app.errors


async def test_the_survey_is_answered_on_the_customer_page_and_reaches_the_agent(
    browser: Browser, server: Server
) -> None:
    alice = await agent_logs_in(browser, server, "alice")
    customer = await customer_starts(browser, server, "Thanks for yesterday")
    await alice.page.click(".offer button:has-text('Accept')")
    await alice.page.select_option("#panel .actions select[aria-label='Disposition']", "sale")
    await alice.page.fill("#panel textarea.notes", "promised a discount next time")
    await alice.page.click("#panel .actions button:has-text('End')")
    await expect(customer.page.locator("#survey")).to_be_visible()
    await customer.shot("chat-survey")
    await customer.page.click("#survey button[aria-label='5/5']")
    await expect(customer.page.locator("#survey")).to_contain_text("Thank you for your feedback.")
    await expect(alice.page.locator("#panel")).to_contain_text("Survey answer: 5/5")
    cid = next(iter(server.hub.conversations.by_id))
    conv = server.hub.conversations.by_id[cid]
    assert conv.disposition == "sale"
    assert [n.text for n in conv.notes] == ["promised a discount next time"]  # the wrap-up notes, on record


async def test_login_failure_and_a_change_without_the_csrf_token(browser: Browser, server: Server) -> None:
    app = await open_app(browser, server, "/agent")
    await app.page.fill("input[name=user]", "alice")
    await app.page.fill("input[name=password]", "not-her-password")
    await app.page.click("#login button[type=submit]")
    await expect(app.page.locator("#login-error")).to_contain_text("Login failed")
    await expect(app.page.locator("#desk")).to_be_hidden()

    wall = await supervisor_logs_in(browser, server, "ada")
    status = await wall.page.evaluate(
        """async () => (await fetch('/v1/agents/alice/away', {method: 'POST',
             headers: {'Content-Type': 'application/json'}, body: '{}'})).status"""
    )
    assert status == 403  # the cookie alone never authorises a change
    cookies = await wall.context.cookies()
    (session,) = [c for c in cookies if c["name"] == "acd_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert await wall.page.evaluate("document.cookie") == ""  # invisible to scripts


async def test_a_dropped_network_reconnects_with_every_chat(browser: Browser, server: Server) -> None:
    alice = await agent_logs_in(browser, server, "alice")
    customer = await customer_starts(browser, server, "Hello?")
    await alice.page.click(".offer button:has-text('Accept')")
    await expect(alice.page.locator(".tab")).to_have_count(1)
    # The server drops the desktop's socket (as a dead network would).
    desk = server.hub.desks["alice"]
    await desk.close(1011, b"a dead network")
    await customer.page.fill("#composer textarea", "Are you still there?")
    await customer.page.press("#composer textarea", "Enter")
    await expect(alice.page.locator("#net")).to_have_text("Connected")  # reconnected by itself
    transcript = alice.page.locator("#panel .transcript")
    await expect(transcript).to_contain_text("Hello?")
    await expect(transcript).to_contain_text("Are you still there?")  # sent while it was away
    await expect(alice.page.locator(".tab")).to_have_count(1)


async def test_a_supervisor_limited_to_one_queue_sees_only_it(browser: Browser, server: Server) -> None:
    sam = await supervisor_logs_in(browser, server, "sam")
    await expect(sam.page.locator("#queues tbody tr")).to_have_count(1)
    await expect(sam.page.locator("#queues tbody tr")).to_contain_text("support")
    await expect(sam.page.locator("#reload")).to_be_hidden()  # only an admin reloads


async def test_the_pages_speak_chinese(browser: Browser, server: Server) -> None:
    app = await open_app(browser, server, "/agent", locale="zh-CN")
    await expect(app.page.locator("#login button[type=submit]")).to_have_text("登录")
    assert await app.page.evaluate("document.documentElement.lang") == "zh-CN"
    await app.shot("agent-login-zh")
    await app.page.click("#lang")  # the switch
    await expect(app.page.locator("#login button[type=submit]")).to_have_text("Log in")
    chat = await open_app(browser, server, "/chat", locale="zh-CN")
    await expect(chat.page.locator("#start button[type=submit]")).to_have_text("开始咨询")


async def test_a_page_of_another_origin_cannot_open_the_sockets(browser: Browser, server: Server) -> None:
    """localhost is another origin than 127.0.0.1: its page is refused at the upgrade."""
    app = await open_app(browser, server, "/")
    other = await app.context.new_page()
    await other.goto(f"http://localhost:{server.bound_port}/")
    outcome = await other.evaluate(
        """url => new Promise(done => {
             const ws = new WebSocket(url);
             ws.onopen = () => done("open");
             ws.onerror = () => done("refused");
           })""",
        f"ws://127.0.0.1:{server.bound_port}/v1/chat/ws",
    )
    assert outcome == "refused"
    same = await app.page.evaluate(
        """url => new Promise(done => {
             const ws = new WebSocket(url);
             ws.onopen = () => { ws.close(); done("open"); };
             ws.onerror = () => done("refused");
           })""",
        f"ws://127.0.0.1:{server.bound_port}/v1/chat/ws",
    )
    assert same == "open"  # its own origin may


async def test_the_customer_page_resumes_after_a_reload(browser: Browser, server: Server) -> None:
    alice = await agent_logs_in(browser, server, "alice")
    customer = await customer_starts(browser, server, "My order is late")
    await alice.page.click(".offer button:has-text('Accept')")
    await alice.page.fill(".composer textarea", "Let me check the order.")
    await alice.page.press(".composer textarea", "Enter")
    await expect(customer.page.locator("#transcript li")).to_have_count(2)
    await customer.page.reload()  # the same tab: its resume token is in sessionStorage
    transcript = customer.page.locator("#transcript li")
    await expect(transcript).to_have_count(2)
    await expect(transcript.nth(0)).to_contain_text("My order is late")
    await expect(transcript.nth(1)).to_contain_text("Let me check the order.")
    await expect(customer.page.locator("#status")).to_have_text("Alice joined the chat")
    await alice.page.fill(".composer textarea", "It ships today.")
    await alice.page.press(".composer textarea", "Enter")
    await expect(transcript).to_have_count(3)
    assert not customer.errors, customer.errors


async def test_a_chat_transferred_to_a_named_agent(browser: Browser, server: Server) -> None:
    alice = await agent_logs_in(browser, server, "alice")
    bob = await agent_logs_in(browser, server, "bob")
    await customer_starts(browser, server, "Can Bob help me?")
    await alice.page.click(".offer button:has-text('Accept')")
    await alice.page.select_option("#panel .actions select[aria-label='Transfer to queue']", "support")
    await alice.page.fill("#panel .actions input[aria-label='Transfer to agent']", "bob")
    await alice.page.click("#panel .actions button:has-text('Transfer to agent')")
    await expect(bob.page.locator(".offer")).to_contain_text("New chat in support")
    await expect(bob.page.locator(".offer")).to_contain_text("preferred-agent")  # held for him
    await expect(alice.page.locator(".tab")).to_have_count(0)


async def test_a_warm_transfer_consults_the_other_agent_first(browser: Browser, server: Server) -> None:
    alice = await agent_logs_in(browser, server, "alice")
    bob = await agent_logs_in(browser, server, "bob")
    customer = await customer_starts(browser, server, "I need a refund")
    await alice.page.click(".offer button:has-text('Accept')")
    alice.page.once("dialog", lambda dialog: dialog.accept("Can you take a refund?"))
    await alice.page.fill("#panel .actions input[aria-label='Transfer to agent']", "bob")
    await alice.page.click("#panel .actions button:has-text('Consult agent')")
    card = bob.page.locator(".consult")
    await expect(card).to_contain_text("Consultation with alice")
    await expect(card).to_contain_text("Can you take a refund?")
    await card.locator("input").fill("Yes, send it over")
    await card.locator("button:has-text('Send')").click()
    await expect(alice.page.locator(".consult")).to_contain_text("bob: Yes, send it over")
    await alice.page.select_option("#panel .actions select[aria-label='Transfer to queue']", "support")
    await alice.page.click("#panel .actions button:has-text('Transfer to agent')")
    await expect(bob.page.locator(".offer:not(.consult)")).to_contain_text("New chat in support")
    await expect(alice.page.locator(".consult")).to_have_count(0)  # the transfer closed it
    await expect(customer.page.locator("#transcript")).not_to_contain_text("refund?")  # never shown to her


async def test_a_signed_identity_from_the_site_is_verified(browser: Browser, server: Server) -> None:
    """The site signs its logged-in visitor (embed.js data-identity-token ->
    the frame's fragment): the agent sees a verified identity, and how many
    chats of its capacity it holds."""
    alice = await agent_logs_in(browser, server, "alice")
    token = identity_token({"email": "li@example.com"})
    app = await open_app(browser, server, f"/chat?queue=sales#identity_token={token}")
    await app.page.fill("textarea[name=text]", "Where is my parcel?")
    await app.page.click("#start button[type=submit]")
    await expect(alice.page.locator("#pop")).to_contain_text("email: li@example.com verified")
    await alice.page.click(".offer button:has-text('Accept')")
    await expect(alice.page.locator("#capacity")).to_have_text("chat 1 of 3")


async def test_a_call_is_a_call_card_answered_on_the_phone(browser: Browser, server: Server) -> None:
    """A call (here from the admin API, as a system without FastAGI would
    queue one) rings the phone: the desktop says so, and once the phone
    answers (the PBX tells the engine) shows the call with its timer."""
    vic = await agent_logs_in(browser, server, "vic")
    conv = Conversation(
        "call-1", "voice", "phone", 0, "+8613800138000", "api", identity={"phone": "+8613800138000"}
    )
    await server.hub.start_contact(conv)
    offer = vic.page.locator(".offer")
    await expect(offer).to_contain_text("Answer on your phone")
    await expect(offer.locator("button")).to_have_count(0)  # no accept button for a call
    await server.runner.submit(lambda now: cmds.Accept(now, "vic", "call-1"))  # the phone was picked up
    card = vic.page.locator("#panel .call")
    await expect(card).to_contain_text("Call with +8613800138000")
    await expect(card.locator("[data-calltimer]")).to_have_text(re.compile(r"0:0[1-9]"))  # it runs
    await vic.page.click("#panel .actions button:has-text('End')")
    await expect(vic.page.locator("#panel")).to_contain_text("The conversation ended")


async def test_the_history_tab_shows_the_days_report_and_its_csv(browser: Browser, server: Server) -> None:
    """A chat served; the supervisor's History tab (reached by keyboard too)
    charts and lists today's report, and its CSV link downloads the same."""
    alice = await agent_logs_in(browser, server, "alice")
    customer = await customer_starts(browser, server, "Do you ship to Lyon?")
    await alice.page.click(".offer button:has-text('Accept')")
    await alice.page.click("#panel .actions button:has-text('End')")
    await alice.page.click("#panel .actions button:has-text('Wrap-up done')")
    await expect(alice.page.locator(".tab")).to_have_count(0)
    assert server.reports is not None
    await server.reports.flush()  # the writer's second, at once
    ada = await supervisor_logs_in(browser, server, "ada")
    await ada.page.click("#tab-history")
    row = ada.page.locator("#h-table tbody tr", has_text="sales")
    await expect(row).to_have_count(1)
    cells = row.locator("td")
    await expect(cells.nth(2)).to_have_text("1")  # offered
    await expect(cells.nth(3)).to_have_text("1")  # answered
    await expect(ada.page.locator("#h-chart rect.answered")).to_have_count(1)
    await expect(ada.page.locator("#live")).to_be_hidden()
    await ada.shot("history")
    href = await ada.page.locator("#h-csv").get_attribute("href")
    assert href is not None and "format=csv" in href
    text = await ada.page.evaluate(
        "url => fetch(url, {credentials: 'same-origin'}).then(r => r.text())", href
    )
    lines = text.splitlines()
    assert lines[0].startswith("from,to,queue,") and any(",sales," in x for x in lines[1:])
    await ada.page.locator("#tab-history").press("ArrowLeft")  # the tabs' keyboard path
    await expect(ada.page.locator("#live")).to_be_visible()
    await expect(ada.page.locator("#tab-live")).to_be_focused()
    for app in (ada, alice, customer):
        assert not app.errors, app.errors
