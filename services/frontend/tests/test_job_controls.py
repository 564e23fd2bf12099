"""The dashboard's job controls in a real browser, against the running stack:
cancel and retry from a row, the status filter, the pages, priority and due
time, and the API's own error when an action is refused."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.stack

JOB_TIMEOUT_MS = 30_000
PAGE_SIZE = 20
# Long enough that a scheduled job never falls due during a test.
FAR_DELAY = 3600
LIST_URL = re.compile(r"/api/jobs\?")


@pytest.fixture
def scheduled(stack_client):
    """Ids of jobs scheduled far ahead, canceled after the test whatever
    happened: left queued, they would hold the queued count above 0 for the
    tests that wait for it to drain."""
    ids: list[str] = []
    yield ids
    for job_id in ids:
        stack_client.post(f"/api/jobs/{job_id}/cancel")


def submit(client, task: str, input_, **extra) -> dict:
    response = client.post("/api/jobs", json={"task": task, "input": input_, **extra})
    assert response.status_code == 202, response.text
    return response.json()


def wait_for(client, job_id: str, predicate, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if predicate(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id} never got there: {job}"
        time.sleep(0.2)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def row_of(page, job_id: str):
    return page.locator(f'tr[data-job-id="{job_id}"]')


def table_loaded(page) -> None:
    """The table shows the answer for the current filter and page."""
    expect(page.get_by_test_id("jobs-table")).not_to_have_attribute("aria-busy", "true")


def is_post(suffix: str):
    return lambda r: r.request.method == "POST" and r.url.endswith(suffix)


def test_submit_with_priority_and_delay_shows_a_scheduled_job(page, stack_client, scheduled):
    page.goto("/")
    page.get_by_label("Task").select_option("uppercase")
    page.get_by_label("Input").fill(f"later {uuid.uuid4().hex[:8]}")
    page.get_by_label("Priority").select_option("high")
    page.get_by_label("Delay in seconds").fill(str(FAR_DELAY))
    with page.expect_response(is_post("/api/jobs")) as submitted:
        page.get_by_role("button", name="Submit job").click()
    assert submitted.value.status == 202
    sent = submitted.value.request.post_data_json
    assert sent["priority"] == "high"
    assert sent["delay_seconds"] == FAR_DELAY
    job = submitted.value.json()
    scheduled.append(job["id"])
    assert job["priority"] == "high" and job["run_at"]

    row = row_of(page, job["id"])
    expect(row.get_by_test_id("job-priority")).to_have_text("high")
    status = row.get_by_test_id("job-status")
    expect(status).to_have_attribute("data-status", "queued")
    expect(status).to_contain_text("scheduled")
    # Still scheduled after a few refreshes, with the API's due time.
    page.wait_for_timeout(1500)
    expect(status).to_contain_text("scheduled")
    due = row.get_by_test_id("job-due")
    expect(due).to_have_text(re.compile(r"\d{2}.\d{2}.\d{2}"))
    run_at = parse_time(job["run_at"])
    assert abs(parse_time(due.get_attribute("datetime")) - run_at) < timedelta(seconds=1)
    assert abs(run_at - datetime.now(UTC) - timedelta(seconds=FAR_DELAY)) < timedelta(minutes=2)


def test_cancel_button_cancels_a_scheduled_job(page, stack_client, scheduled):
    job = submit(stack_client, "uppercase", "never", delay_seconds=FAR_DELAY, priority="low")
    scheduled.append(job["id"])
    page.goto("/")
    row = row_of(page, job["id"])
    expect(row.get_by_test_id("job-priority")).to_have_text("low")
    expect(row.get_by_test_id("job-status")).to_contain_text("scheduled")
    expect(row.get_by_test_id("job-retry")).to_be_hidden()

    cancel = row.get_by_role("button", name=f"Cancel job {job['id'][:8]}")
    with page.expect_response(is_post(f"/api/jobs/{job['id']}/cancel")) as answered:
        cancel.click()
    assert answered.value.status == 200

    expect(row.get_by_test_id("job-status")).to_have_attribute("data-status", "canceled")
    expect(row.get_by_test_id("job-status")).to_contain_text("canceled")
    expect(cancel).to_be_hidden()
    expect(row.get_by_role("button", name=f"Retry job {job['id'][:8]}")).to_be_visible()
    # Focus stays in the row, not lost to the page.
    expect(row.locator("th")).to_be_focused()
    expect(page.get_by_test_id("form-status")).to_contain_text(f"{job['id'][:8]} (uppercase) is canceled")
    assert stack_client.get(f"/api/jobs/{job['id']}").json()["status"] == "canceled"


def test_cancel_button_stops_a_running_job(page, stack_client):
    job = submit(stack_client, "sleep", {"seconds": 30})
    page.goto("/")
    row = row_of(page, job["id"])
    status = row.get_by_test_id("job-status")
    expect(status).to_have_attribute("data-status", "running", timeout=JOB_TIMEOUT_MS)
    with page.expect_response(is_post(f"/api/jobs/{job['id']}/cancel")) as answered:
        row.get_by_role("button", name=f"Cancel job {job['id'][:8]}").click()
    assert answered.value.status == 202
    # Asked to stop: no second cancel, and the worker's answer arrives by itself.
    expect(page.get_by_test_id("form-status")).to_contain_text("is asked to stop")
    expect(row.get_by_test_id("job-cancel")).to_be_hidden()
    expect(status).to_have_attribute("data-status", "canceled", timeout=JOB_TIMEOUT_MS)
    assert stack_client.get(f"/api/jobs/{job['id']}").json()["status"] == "canceled"


def test_retry_button_runs_a_failed_job_again(page, stack_client):
    message = f"broken {uuid.uuid4().hex[:8]}"
    job = submit(stack_client, "fail", {"message": message})
    failed = wait_for(stack_client, job["id"], lambda j: j["status"] == "failed")
    page.goto("/")
    row = row_of(page, job["id"])
    status = row.get_by_test_id("job-status")
    expect(status).to_have_attribute("data-status", "failed")
    expect(row.get_by_test_id("job-result")).to_contain_text(message)
    expect(row.get_by_test_id("job-cancel")).to_be_hidden()

    # With the keyboard: focus the button, press Enter.
    retry = row.get_by_role("button", name=f"Retry job {job['id'][:8]}")
    retry.focus()
    with page.expect_response(is_post(f"/api/jobs/{job['id']}/retry")) as answered:
        page.keyboard.press("Enter")
    assert answered.value.status == 200
    expect(status).not_to_have_attribute("data-status", "failed", timeout=1000)

    # A new attempt runs (and fails again, as this task does), after the old ones.
    again = wait_for(
        stack_client,
        job["id"],
        lambda j: j["status"] == "failed" and j["attempts"] > failed["attempts"],
    )
    expect(status).to_have_attribute("data-status", "failed", timeout=JOB_TIMEOUT_MS)
    expect(status).to_contain_text(f"after {again['attempts']} attempts")
    expect(row.get_by_test_id("job-retry")).to_be_visible()


def test_status_filter_shows_only_that_status(page, stack_client):
    failed = submit(stack_client, "fail", {"message": "filtered"})
    wait_for(stack_client, failed["id"], lambda j: j["status"] == "failed")
    succeeded = submit(stack_client, "uppercase", "filtered")
    wait_for(stack_client, succeeded["id"], lambda j: j["status"] == "succeeded")

    page.goto("/")
    expect(row_of(page, succeeded["id"])).to_be_visible()
    with page.expect_request(lambda r: "status=failed" in r.url):
        page.get_by_label("Status", exact=True).select_option("failed")
    table_loaded(page)
    rows = page.get_by_test_id("job-row")
    expect(row_of(page, failed["id"])).to_be_visible()
    expect(row_of(page, succeeded["id"])).to_have_count(0)
    expect(rows.locator('[data-testid="job-status"]:not([data-status="failed"])')).to_have_count(0)
    expect(page.get_by_role("table")).to_have_accessible_name(re.compile("failed jobs"))
    # The live refresh keeps the filter.
    page.wait_for_timeout(1500)
    expect(row_of(page, succeeded["id"])).to_have_count(0)
    expected = [j["id"] for j in stack_client.get("/api/jobs", params={"status": "failed"}).json()["items"]]
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.jobId)") == expected

    page.get_by_label("Status", exact=True).select_option("")
    table_loaded(page)
    expect(row_of(page, succeeded["id"])).to_be_visible()


def test_pages_reach_older_jobs_and_the_newest_page_stays_live(page, stack_client):
    oldest = submit(stack_client, "uppercase", "the oldest of a page and more")
    batch = [{"task": "uppercase", "input": f"filler {i}"} for i in range(PAGE_SIZE + 5)]
    response = stack_client.post("/api/jobs/batch", json={"jobs": batch})
    assert response.status_code == 202, response.text

    page.goto("/")
    table_loaded(page)
    rows = page.get_by_test_id("job-row")
    expect(rows).to_have_count(PAGE_SIZE)
    expect(row_of(page, oldest["id"])).to_have_count(0)
    newest = page.get_by_test_id("page-newest")
    expect(newest).to_have_attribute("aria-disabled", "true")

    first = stack_client.get("/api/jobs", params={"limit": PAGE_SIZE}).json()
    second = stack_client.get("/api/jobs", params={"limit": PAGE_SIZE, "before": first["next"]}).json()
    with page.expect_request(lambda r: f"before={first['next']}" in r.url):
        page.get_by_role("button", name="Older").click()
    table_loaded(page)
    expect(row_of(page, oldest["id"])).to_be_visible()
    expect(page.get_by_test_id("page-status")).to_have_text("Page 2")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.jobId)") == [j["id"] for j in second["items"]]

    # A job submitted now does not push the user's page around...
    late = submit(stack_client, "uppercase", "while on page 2")
    page.wait_for_timeout(2000)
    expect(row_of(page, late["id"])).to_have_count(0)
    expect(row_of(page, oldest["id"])).to_be_visible()
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.jobId)") == [j["id"] for j in second["items"]]

    # ...and the newest page, with the keyboard, shows it.
    newest.focus()
    page.keyboard.press("Enter")
    table_loaded(page)
    expect(page.get_by_test_id("page-status")).to_have_text("Page 1")
    expect(row_of(page, late["id"])).to_be_visible()
    expect(newest).to_be_focused()


def test_cancel_of_a_finished_job_shows_the_api_error(page, stack_client):
    job = submit(stack_client, "uppercase", "done before the click")
    done = wait_for(stack_client, job["id"], lambda j: j["status"] == "succeeded")
    # The page still thinks it runs, as when it finishes between a refresh and
    # the click: the list answers are held at that view, the cancel is real.
    stale = {"items": [{**done, "status": "running", "finished_at": None, "result": None}], "next": None}

    def stale_list(route) -> None:
        if route.request.method == "GET":
            route.fulfill(status=200, json=stale)
        else:
            route.continue_()

    page.route(LIST_URL, stale_list)
    page.goto("/")
    row = row_of(page, job["id"])
    with page.expect_response(is_post(f"/api/jobs/{job['id']}/cancel")) as answered:
        row.get_by_role("button", name=f"Cancel job {job['id'][:8]}").click()
    assert answered.value.status == 409
    message = answered.value.json()["error"]["message"]
    assert "succeeded" in message

    expect(page.get_by_role("alert")).to_contain_text(message)
    expect(page.get_by_test_id("form-error-message")).to_have_text(message)
    # Not the form's fault: no field is marked invalid.
    expect(page.get_by_label("Input")).not_to_have_attribute("aria-invalid", "true")

    page.unroute(LIST_URL)
    expect(row.get_by_test_id("job-status")).to_have_attribute("data-status", "succeeded")
    expect(row.get_by_test_id("job-cancel")).to_be_hidden()
