// Conveyor dashboard: the trend charts, hand-drawn SVG, no dependencies.
//
// app.js fires a "conveyor:stats" event on the document for every /api/stats
// answer; this module keeps the last few minutes of them and draws two line
// charts: jobs finished per second (the change in succeeded + failed between
// two answers, divided by the time between them) and queue depth. Each chart
// also says its numbers in text, for screen readers and for exact reading.

const WINDOW_MS = 5 * 60 * 1000;
// Two answers further apart than this (a hidden tab, an API outage) are not
// joined by a line: the chart shows a gap rather than invent a trend.
const GAP_MS = 5000;
const VIEW_WIDTH = 300;
const VIEW_HEIGHT = 60;

const rateFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const countFormat = new Intl.NumberFormat();

// The smallest of 1, 2, 5 × 10^n at or above value: a scale a person can read.
function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (value <= step * magnitude) return step * magnitude;
  }
  return 10 * magnitude;
}

// An SVG path through the points, broken where a point is null.
// points: [{t, v}] oldest first, v null for "unknown".
function linePath(points, now, max) {
  let d = "";
  let drawn = 0;
  let pen = false;
  for (const { t, v } of points) {
    if (v === null) {
      pen = false;
      continue;
    }
    const x = VIEW_WIDTH - ((now - t) / WINDOW_MS) * VIEW_WIDTH;
    const y = VIEW_HEIGHT - (v / max) * VIEW_HEIGHT;
    d += `${pen ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
    pen = true;
    drawn += 1;
  }
  return { d, drawn };
}

class TrendChart {
  constructor(figure, { unit, format }) {
    this.figure = figure;
    this.unit = unit;
    this.format = format;
    this.points = [];
    this.svg = figure.querySelector("svg");
    this.title = this.svg.querySelector("title");
    this.line = figure.querySelector(".chart__line");
    this.nowText = figure.querySelector("[data-role=now]");
    this.peakText = figure.querySelector("[data-role=peak]");
    this.scaleText = figure.querySelector("[data-role=scale]");
    this.name = figure.querySelector("figcaption").textContent.trim();
  }

  // v: a number, or null when the value is unknown (breaks the line).
  add(t, v) {
    const last = this.points[this.points.length - 1];
    if (last && last.v !== null && t - last.t > GAP_MS) this.points.push({ t: last.t, v: null });
    this.points.push({ t, v });
    while (this.points.length && this.points[0].t < t - WINDOW_MS) this.points.shift();
    this.draw(t);
  }

  draw(now) {
    const known = this.points.filter((p) => p.v !== null);
    const peak = known.reduce((m, p) => Math.max(m, p.v), 0);
    const max = niceCeiling(peak);
    const { d, drawn } = linePath(this.points, now, max);
    this.line.setAttribute("d", d || `M0,${VIEW_HEIGHT}`);
    this.svg.dataset.points = String(drawn);
    this.svg.dataset.max = String(max);

    const latest = this.points[this.points.length - 1];
    const current = latest && latest.v !== null ? latest.v : null;
    let nowText = "–";
    if (latest) nowText = current === null ? "n/a" : `${this.format(current)}${this.unit}`;
    const peakText = known.length ? `${this.format(peak)}${this.unit}` : "–";
    this.nowText.dataset.value = current === null ? "" : String(current);
    this.nowText.textContent = nowText;
    this.peakText.dataset.value = known.length ? String(peak) : "";
    this.peakText.textContent = peakText;
    this.scaleText.textContent = this.format(max);
    this.title.textContent = `${this.name}, last 5 minutes: now ${nowText}, peak ${peakText}, scale 0 to ${this.format(max)}.`;
  }
}

function start() {
  const finished = document.getElementById("chart-finished-rate");
  const depth = document.getElementById("chart-queue-depth");
  if (!finished || !depth) return;
  const rateChart = new TrendChart(finished, { unit: "/s", format: (v) => rateFormat.format(v) });
  const depthChart = new TrendChart(depth, { unit: "", format: (v) => countFormat.format(v) });

  let previous = null; // {t, done}: the last answer with counts, for the rate
  document.addEventListener("conveyor:stats", (event) => {
    const { stats, at } = event.detail;
    const counts = stats.counts || {};
    const done =
      typeof counts.succeeded === "number" && typeof counts.failed === "number"
        ? counts.succeeded + counts.failed
        : null;
    // The first answer, and the first after a gap, only start a new rate.
    if (previous && done !== null && at - previous.t <= GAP_MS && at > previous.t) {
      // Never negative: the counts only grow, unless the database was reset.
      rateChart.add(at, Math.max(0, done - previous.done) / ((at - previous.t) / 1000));
    }
    previous = done === null ? null : { t: at, done };
    depthChart.add(at, typeof stats.queue_depth === "number" ? stats.queue_depth : null);
  });
}

start();
