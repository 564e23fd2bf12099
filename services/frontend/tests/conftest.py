"""Fixtures for the dashboard tests: the running stack and a headless Chromium.

The tests drive the real stack (frontend -> API -> worker) at CONVEYOR_URL.
When nothing answers there, they are skipped with the reason, unless
CONVEYOR_REQUIRE_STACK is set (as `make test` and CI do): then an unreachable
stack is a failure, never a silent skip.

Chromium is Debian's package (`apt-get install chromium`), driven by the
Playwright library; Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

BASE_URL = os.environ.get("CONVEYOR_URL", "http://127.0.0.1:8080").rstrip("/")
CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
REQUIRE_STACK = os.environ.get("CONVEYOR_REQUIRE_STACK", "").strip().lower() not in (
    "",
    "0",
    "false",
    "no",
)

# Flags for a quiet, deterministic browser: no sandbox (CI containers run as
# root), no GPU, no network traffic of its own (updates, sync, QUIC probes).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _stack_problem() -> str | None:
    try:
        response = httpx.get(f"{BASE_URL}/healthz", timeout=3.0)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return f"GET /healthz answered {response.status_code}"
    return None


@pytest.fixture(scope="session")
def stack_url() -> str:
    """The stack's base URL, once it has been seen to answer."""
    problem = _stack_problem()
    if problem is not None:
        message = (
            f"the Conveyor stack at {BASE_URL} is not reachable ({problem}); "
            "start it with `make up` or point CONVEYOR_URL at a running one"
        )
        if REQUIRE_STACK:
            pytest.fail(f"{message} (CONVEYOR_REQUIRE_STACK is set)", pytrace=False)
        pytest.skip(message)
    return BASE_URL


@pytest.fixture(scope="session")
def stack_client(stack_url: str) -> Iterator[httpx.Client]:
    """An HTTP client for the API through the frontend's proxy."""
    with httpx.Client(base_url=stack_url, timeout=10.0) as client:
        yield client


@pytest.fixture(scope="session")
def browser(stack_url: str):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM_PATH).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM_PATH}: install Debian's package "
            "(`apt-get install chromium`) or set CHROMIUM_PATH",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, stack_url: str):
    """A fresh page with its own cookies and cache."""
    context = browser.new_context(base_url=stack_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def page_problems(page) -> list[str]:
    """What went wrong on `page`: console errors and warnings, uncaught
    exceptions and requests that got no answer. Listening starts before the
    test navigates anywhere."""
    problems: list[str] = []

    def on_console(msg) -> None:
        if msg.type in ("error", "warning"):
            problems.append(f"console.{msg.type}: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"uncaught exception: {exc}"))
    page.on(
        "requestfailed",
        lambda req: problems.append(f"request failed: {req.method} {req.url} ({req.failure})"),
    )
    return problems
