"""The dashboard's trend charts in a real browser, against the running stack:
a burst of jobs shows up as a queue and as a finishing rate."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.stack

# More jobs than the one worker of the stack runs at once (WORKER_CONCURRENCY,
# 64 by default), each long enough that the rest wait in the queue for a few
# of the page's one-second polls.
BURST = 100
BURST_SECONDS = 4
DRAIN_TIMEOUT_MS = 60_000

AT_LEAST_TWO = re.compile(r"^([2-9]|\d{2,})$")
VIEW_HEIGHT = 60

# Everything the test reads from one chart, in one go: the page may redraw
# between two separate reads.
READ_CHART = """(testid) => {
  const figure = document.querySelector(`[data-testid="${testid}"]`);
  const svg = figure.querySelector("svg");
  return {
    d: figure.querySelector(".chart__line").getAttribute("d"),
    points: Number(svg.dataset.points),
    max: Number(svg.dataset.max),
    now: figure.querySelector("[data-role=now]").dataset.value,
    peak: figure.querySelector("[data-role=peak]").dataset.value,
    title: svg.querySelector("title").textContent,
    stat: document.querySelector('[data-testid="stat-queue-depth"]').dataset.value,
  };
}"""


def coordinates(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", d)]


def test_charts_are_labelled_images_with_their_numbers_in_text(page):
    page.goto("/")
    for testid, name in (
        ("chart-finished-rate", "Jobs finished per second"),
        ("chart-queue-depth", "Queue depth"),
    ):
        figure = page.get_by_test_id(testid)
        image = figure.get_by_role("img")
        expect(image).to_have_accessible_name(re.compile(rf"^{name}, last 5 minutes: now \S"))
        expect(figure.get_by_test_id(f"{testid}-now")).to_have_text(re.compile(r"^\d"))
        expect(figure.get_by_test_id(f"{testid}-peak")).to_have_text(re.compile(r"^\d"))


def test_a_burst_of_jobs_is_drawn_as_queue_depth_and_finished_rate(page, stack_client, page_problems):
    page.goto("/")
    depth_svg = page.get_by_test_id("chart-queue-depth").locator("svg")
    rate_svg = page.get_by_test_id("chart-finished-rate").locator("svg")
    # Two answers so far, the rate chart has its first point: a baseline.
    expect(depth_svg).to_have_attribute("data-points", AT_LEAST_TWO)
    expect(rate_svg).to_have_attribute("data-points", re.compile(r"^[1-9]"))

    job = {"task": "sleep", "input": {"seconds": BURST_SECONDS}}

    def submit(_: int) -> int:
        return stack_client.post("/api/jobs", json=job).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(submit, range(BURST))) == {202}

    # The queue is seen to build up, then to drain.
    expect(page.get_by_test_id("chart-queue-depth-peak")).not_to_have_attribute(
        "data-value", re.compile(r"^0?$"), timeout=DRAIN_TIMEOUT_MS
    )
    expect(page.get_by_test_id("stat-running")).to_have_attribute("data-value", "0", timeout=DRAIN_TIMEOUT_MS)
    expect(page.get_by_test_id("stat-queued")).to_have_attribute("data-value", "0")

    depth = page.evaluate(READ_CHART, "chart-queue-depth")
    points = coordinates(depth["d"])
    assert depth["points"] == len(points) > 1, depth
    # The chart's latest value is the one in the stats panel, and the line ends there.
    assert depth["now"] == depth["stat"] == "0", depth
    assert points[-1] == (300.0, VIEW_HEIGHT), depth
    # The peak sits at the top of a scale that fits it.
    assert 0 < int(depth["peak"]) <= depth["max"], depth
    top = VIEW_HEIGHT * (1 - int(depth["peak"]) / depth["max"])
    assert min(y for _, y in points) == pytest.approx(top, abs=0.1), depth
    assert f"peak {depth['peak']}" in depth["title"]

    rate = page.evaluate(READ_CHART, "chart-finished-rate")
    points = coordinates(rate["d"])
    assert rate["points"] == len(points) > 1, rate
    # Every job of the burst finished while the page watched: some second saw several.
    assert float(rate["peak"]) > 1, rate
    assert any(y < VIEW_HEIGHT for _, y in points), rate
    assert page_problems == []
