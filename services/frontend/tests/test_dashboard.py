"""The dashboard in a real headless browser, against the running stack.

Run with the stack up (`make up`):
    CONVEYOR_URL=http://127.0.0.1:8080 pytest -m stack services/frontend/tests
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.stack

# A job goes through the queue and a worker: allow for a cold worker and a
# busy CI machine, but not for a job that is never picked up.
JOB_TIMEOUT_MS = 30_000

INTEGER = re.compile(r"^\d+$")
STAT_FIELDS = {
    "stat-queued": lambda s: s["counts"]["queued"],
    "stat-running": lambda s: s["counts"]["running"],
    "stat-succeeded": lambda s: s["counts"]["succeeded"],
    "stat-failed": lambda s: s["counts"]["failed"],
    "stat-queue-depth": lambda s: s["queue_depth"],
    "stat-finished-last-minute": lambda s: s["finished_last_minute"],
    "stat-workers": lambda s: s["workers"],
}


def is_job_submit(response) -> bool:
    return response.request.method == "POST" and response.url.endswith("/api/jobs")


# ------------------------------------------------------------------ fast checks


def test_healthz_answers_ok(stack_client):
    response = stack_client.get("/healthz")
    assert response.status_code == 200
    assert response.text.strip() == "ok"


def test_static_files_have_security_and_cache_headers(stack_client):
    index = stack_client.get("/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    csp = index.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert index.headers["x-content-type-options"] == "nosniff"
    assert "referrer-policy" in index.headers
    # Revalidated on every load, so a new release is picked up at once.
    assert index.headers["cache-control"] == "no-cache"
    assert not re.search(r"\d", index.headers.get("server", "")), "nginx version leaked"

    assets = re.findall(r'(?:src|href)="(assets/[^"]+)"', index.text)
    assert len(assets) == 3, assets
    for asset in assets:
        assert re.search(r"\.[0-9a-f]{12}\.(js|css)$", asset), f"{asset} is not fingerprinted"
        response = stack_client.get(f"/{asset}", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert "immutable" in response.headers["cache-control"]
        assert response.headers.get("content-encoding") == "gzip"


def test_page_loads_without_console_errors(page, page_problems):
    page.goto("/")
    # The first refresh has come back and been rendered...
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("stat-queued")).to_have_attribute("data-value", INTEGER)
    # ...and a few more cycles of polling have run.
    page.wait_for_timeout(2500)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    assert page_problems == []


# ------------------------------------------------------------------ the stack


def test_stats_panel_shows_the_api_numbers(page, stack_client):
    page.goto("/")
    expect(page.get_by_test_id("stat-queued")).to_have_attribute("data-value", INTEGER)
    stats = stack_client.get("/api/stats").json()
    for testid, pick in STAT_FIELDS.items():
        cell = page.get_by_test_id(testid)
        if pick(stats) is None:
            # The API may not know (Redis down): the page says so in words.
            expect(cell).to_have_text("n/a")
        else:
            expect(cell).to_have_attribute("data-value", INTEGER)
            expect(cell).to_have_text(re.compile(r"^\d[\d,.\s\u202f\u00a0]*$"))
    expect(page.get_by_test_id("stat-redis")).to_have_text(stats["redis"])


def test_submitted_uppercase_job_reaches_succeeded(page):
    text = f"hello conveyor {uuid.uuid4().hex[:8]}"
    page.goto("/")
    page.get_by_label("Task").select_option("uppercase")
    page.get_by_label("Input").fill(text)
    with page.expect_response(is_job_submit) as submitted:
        page.get_by_role("button", name="Submit job").click()
    assert submitted.value.status == 202
    job = submitted.value.json()

    # The row appears and is updated in place by the polling, no reload.
    row = page.locator(f'tr[data-job-id="{job["id"]}"]')
    expect(row).to_be_visible()
    status = row.get_by_test_id("job-status")
    expect(status).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT_MS)
    expect(status).to_have_text(re.compile(r"succeeded"))  # in words, not only in colour
    expect(row.get_by_test_id("job-task")).to_have_text("uppercase")
    expect(row.get_by_test_id("job-result")).to_have_text(text.upper())
    expect(row.get_by_test_id("job-duration")).to_have_text(re.compile(r"^\d"))
    # The live region tells screen-reader users that their job finished.
    expect(page.get_by_role("status").filter(has_text=job["id"][:8])).to_contain_text("succeeded")


def test_invalid_input_shows_the_api_error_and_creates_no_job(page, stack_client):
    page.goto("/")
    page.get_by_label("Task").select_option("sleep")
    expect(page.get_by_test_id("input-hint")).to_contain_text('{"seconds": N}')
    field = page.get_by_label("Input")
    field.fill('{"seconds": 999}')

    # Submitted with the keyboard alone: Tab past priority and delay to the button, Enter.
    field.focus()
    for control in (page.get_by_label("Priority"), page.get_by_label("Delay in seconds")):
        page.keyboard.press("Tab")
        expect(control).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Submit job")).to_be_focused()
    with page.expect_response(is_job_submit) as submitted:
        page.keyboard.press("Enter")
    assert submitted.value.status == 422
    message = submitted.value.json()["error"]["message"]
    assert message

    # The API's own message, in an alert next to the form, tied to the field.
    expect(page.get_by_role("alert")).to_contain_text(message)
    expect(page.get_by_test_id("form-error-message")).to_have_text(message)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_value('{"seconds": 999}')

    recent = stack_client.get("/api/jobs", params={"limit": 100}).json()["items"]
    assert not [j for j in recent if j["task"] == "sleep" and j["input"] == {"seconds": 999}]


def test_malformed_json_input_is_caught_before_sending(page):
    page.goto("/")
    page.get_by_label("Task").select_option("sleep")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.get_by_label("Input").fill('{"seconds": ')
    page.get_by_role("button", name="Submit job").click()
    expect(page.get_by_role("alert")).to_contain_text("must be JSON")
    page.wait_for_timeout(300)
    assert posts == []


def test_jobs_table_is_a_labelled_data_table(page):
    page.goto("/")
    table = page.get_by_role("table")
    expect(table).to_have_accessible_name(re.compile("newest jobs", re.I))
    headers = table.locator("thead th[scope=col]")
    expect(headers).to_have_text(
        ["Job", "Task", "Priority", "Status", "Result", "Duration", "Submitted", "Actions"],
        use_inner_text=True,
    )
