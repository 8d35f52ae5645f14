"""`cargo stack`'s demo page in headless Chromium, from a click to access: the pricing
table from ListPlans, Subscribe with two seats, the emulator's checkout page, back to the
success page where the synced checkout's CheckAccess turns true, then the portal."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "target" / "debug" / "caixa-stack"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo() -> Iterator[str]:
    """`caixa-stack` on free ports and a scratch database; the demo page's URL."""
    folder = Path(tempfile.mkdtemp(prefix="caixa-demo-"))
    ports = {name: free_port() for name in ("emulator", "grpc", "http", "entitlement", "demo")}
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{folder / 'demo.sqlite'}?mode=rwc",
        "STRIPE_EMULATOR_ADDR": f"127.0.0.1:{ports['emulator']}",
        "BILLING_GRPC_ADDR": f"127.0.0.1:{ports['grpc']}",
        "BILLING_HTTP_ADDR": f"127.0.0.1:{ports['http']}",
        "ENTITLEMENT_GRPC_ADDR": f"127.0.0.1:{ports['entitlement']}",
        "DEMO_ADDR": f"127.0.0.1:{ports['demo']}",
    }
    log = open(folder / "stack.log", "w")  # noqa: SIM115 - open for the process's life
    process = subprocess.Popen([str(STACK)], cwd=folder, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{ports['demo']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/api/plans", timeout=1).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((folder / "stack.log").read_text()) from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_visitor_subscribes_from_the_pricing_table_and_gets_access(demo: str, browser: webdriver.Chrome) -> None:
    wait = WebDriverWait(browser, 30)

    # Arrange: the pricing table, from ListPlans.
    browser.get(demo)
    subscribe = wait.until(seen.element_to_be_clickable((By.CSS_SELECTOR, ".subscribe")))
    assert "Caixa Pro" in browser.find_element(By.ID, "plans").text
    assert "R$" in browser.find_element(By.ID, "plans").text, "the amount, in the plan's currency"
    user = browser.find_element(By.ID, "user").get_attribute("value")
    before = wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "#now.refused"))).text
    seats = browser.find_element(By.ID, "seats")
    seats.clear()
    seats.send_keys("2")

    # Act: Subscribe → the emulator's checkout page → pay.
    subscribe.click()
    pay = wait.until(seen.element_to_be_clickable((By.ID, "pay")))
    checkout_page = browser.page_source
    pay.click()

    # Assert: refused before, and back on the demo, the checkout synced and access granted.
    access = wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "#access.allowed")))
    assert before == "refused (ACCESS_REASON_NO_SUBSCRIPTION)"
    assert "Seats: 2" in checkout_page and "Free trial: 14 days" in checkout_page
    assert browser.current_url.startswith(demo + "/success?session_id=cs_test_")
    assert "ACCESS_REASON_TRIALING" in access.text and "2 seat(s)" in access.text, access.text
    log = browser.find_element(By.ID, "log").text
    assert f"CheckAccess({user}, reports) at least as fresh as" in log and ": true" in log, log

    # Act and assert: the portal lists the subscription.
    browser.find_element(By.ID, "portal").click()
    wait.until(seen.title_contains("Customer portal"))
    assert "trialing" in browser.find_element(By.TAG_NAME, "body").text
