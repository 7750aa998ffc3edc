"""`djed demo` in a real browser: Debian's Chromium driven by Playwright, the demo as a process.

Screenshots go to ``DJED_ARTIFACTS`` (default ``test-artifacts/`` at the repository
root), which the CI workflow keeps for a person to look at.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from djed.mcp_base.testing import connect_http, free_port, wait_ready

from ._cli_support import DJED, REPOSITORY

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("DJED_CHROMIUM") or shutil.which("chromium")
ARTIFACTS = Path(os.environ.get("DJED_ARTIFACTS", REPOSITORY / "test-artifacts")) / "demo"
# Chromium on a machine with no route out: no background traffic, no sandbox as root.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
WAIT = 15_000  # ms: how long an expectation may take on a loaded 2-core machine


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI installs Debian's chromium package; it is missing")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


class DemoProcess:
    """`djed demo` running as a user starts it, on a free port with its own data folder."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(DJED), "demo", "--port", str(self.port), "--data", str(self.data)],
            env={**os.environ, "NO_COLOR": "1", "DJED_LOGGER_FORMAT": "json"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_ready(self.url, self.process, within=120)  # the first start may build the page

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.communicate(timeout=30)
        self.process = None


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoProcess]:
    running = DemoProcess(tmp_path / "data")
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@contextlib.contextmanager
def _page(browser: Any, url: str, invoice: str, name: str) -> Iterator[Any]:
    """A page in a browser context of its own (its own IndexedDB), with one invoice open."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto(f"{url}/?name={name}#/invoice/{invoice}")
    _synced(page)
    try:
        yield page
    finally:
        context.close()


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _synced(page: Any) -> None:
    _expect()(page.get_by_test_id("sync-state")).to_have_text("synced", timeout=WAIT)


def _add_line(page: Any, description: str, quantity: str, price: str) -> None:
    """Add a line and fill it: the new line's description has the focus (another person's
    line may land after it at the same moment, so its row is found from the focus)."""
    page.get_by_test_id("add-line").click()
    focused = page.locator("[data-testid=line-description]:focus")
    line_id = focused.evaluate("field => field.closest('[data-testid=line]').dataset.lineId")
    line = page.locator(f'[data-testid=line][data-line-id="{line_id}"]')
    line.get_by_test_id("line-description").fill(description)
    line.get_by_test_id("line-quantity").fill(quantity)
    line.get_by_test_id("line-price").fill(price)


def _descriptions(page: Any) -> list[str]:
    fields = page.get_by_test_id("line-description")
    return sorted(fields.nth(i).input_value() for i in range(fields.count()))


def test_two_pages_edit_one_invoice_and_converge(browser: Any, demo: DemoProcess) -> None:
    expect = _expect()
    with (
        _page(browser, demo.url, "1001", "Ada") as ada,
        _page(browser, demo.url, "1001", "Bob") as bob,
    ):
        expect(ada.get_by_test_id("peer")).to_have_text(["Bob"], timeout=WAIT)
        expect(bob.get_by_test_id("peer")).to_have_text(["Ada"], timeout=WAIT)

        ada.get_by_test_id("customer").fill("Acme Rockets Ltd")
        expect(bob.get_by_test_id("customer")).to_have_value("Acme Rockets Ltd", timeout=WAIT)

        # Both add a line at the same moment: both lines stay.
        _add_line(ada, "Night shift", "2", "100.00")
        _add_line(bob, "Spare bolts", "3", "0.35")
        for page in (ada, bob):
            expect(page.get_by_test_id("line")).to_have_count(4, timeout=WAIT)
        assert _descriptions(ada) == _descriptions(bob)
        # 1350.00 + 200.00 + 1.05 = 1551.05; tax 20 % = 310.21; total 1861.26
        for page in (ada, bob):
            expect(page.get_by_test_id("subtotal")).to_have_text("1,551.05 EUR", timeout=WAIT)
            expect(page.get_by_test_id("total")).to_have_text("1,861.26 EUR", timeout=WAIT)
        _shot(ada, "01-two-editors-ada")
        _shot(bob, "02-two-editors-bob")
        bob.set_viewport_size({"width": 390, "height": 844})  # a phone: the layout stacks
        expect(bob.get_by_test_id("total")).to_be_visible()
        _shot(bob, "09-phone-bob")


def test_an_offline_page_keeps_editing_and_merges(browser: Any, demo: DemoProcess) -> None:
    expect = _expect()
    with (
        _page(browser, demo.url, "1002", "Ada") as ada,
        _page(browser, demo.url, "1002", "Bob") as bob,
    ):
        bob.context.set_offline(True)
        expect(bob.get_by_test_id("sync-state")).to_have_text("offline", timeout=WAIT)
        _add_line(bob, "Written offline", "1", "10.00")
        bob.get_by_test_id("notes").fill("Call before delivery")
        ada.get_by_test_id("customer").fill("Globex Corporation")
        _shot(bob, "03-offline-bob")
        expect(ada.get_by_test_id("line")).to_have_count(1)

        bob.context.set_offline(False)
        _synced(bob)
        for page in (ada, bob):
            expect(page.get_by_test_id("line")).to_have_count(2, timeout=WAIT)
            expect(page.get_by_test_id("notes")).to_have_value("Call before delivery", timeout=WAIT)
            expect(page.get_by_test_id("customer")).to_have_value(
                "Globex Corporation", timeout=WAIT
            )
        _shot(ada, "04-after-reconnect-ada")


def test_an_agent_edit_appears_in_open_pages(browser: Any, demo: DemoProcess) -> None:
    expect = _expect()
    with (
        _page(browser, demo.url, "1003", "Ada") as ada,
        _page(browser, demo.url, "1003", "Bob") as bob,
    ):

        async def agent() -> Any:
            async with connect_http(demo.url) as client:
                arguments = {
                    "invoice_id": "1003",
                    "description": "Added by the assistant",
                    "quantity": "4",
                    "unit_price": "25.00",
                }
                return await client.call_tool("add_line_item", arguments)

        # Playwright's sync API owns this thread's event loop: the agent gets a thread of its own.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            result = pool.submit(asyncio.run, agent()).result(timeout=60)
        assert not result.is_error, result
        for page in (ada, bob):
            expect(page.get_by_test_id("line")).to_have_count(3, timeout=WAIT)
            expect(page.get_by_test_id("line-description").last).to_have_value(
                "Added by the assistant", timeout=WAIT
            )
        _shot(bob, "05-agent-edit")


def test_gateway_down_queues_then_sends(browser: Any, demo: DemoProcess) -> None:
    expect = _expect()
    with _page(browser, demo.url, "1001", "Ada") as ada:
        ada.get_by_test_id("gateway-mode").select_option("failing")
        ada.get_by_test_id("send-invoice").click()
        expect(ada.get_by_test_id("delivery")).to_have_text("queued", timeout=WAIT)
        _shot(ada, "06-queued")
        ada.get_by_test_id("gateway-mode").select_option("ok")
        expect(ada.get_by_test_id("delivery")).to_have_text("sent", timeout=30_000)
        expect(ada.get_by_test_id("status")).to_have_value("sent", timeout=WAIT)
        _shot(ada, "07-sent")


def test_every_edit_survives_a_restart(browser: Any, demo: DemoProcess) -> None:
    expect = _expect()
    with _page(browser, demo.url, "1002", "Ada") as ada:
        ada.get_by_test_id("customer").fill("Globex after restart")
        _add_line(ada, "Kept across restarts", "2", "5.50")
        expect(ada.get_by_test_id("line")).to_have_count(2)
        _synced(ada)
    demo.stop(signal.SIGKILL)  # no goodbye: what was acknowledged must be on disk
    demo.start()
    with _page(browser, demo.url, "1002", "Cleo") as cleo:  # a new browser: no IndexedDB copy
        expect(cleo.get_by_test_id("customer")).to_have_value("Globex after restart", timeout=WAIT)
        expect(cleo.get_by_test_id("line")).to_have_count(2, timeout=WAIT)
        assert "Kept across restarts" in _descriptions(cleo)
        _shot(cleo, "08-after-restart")
