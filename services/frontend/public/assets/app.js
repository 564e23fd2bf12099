// Conveyor dashboard: a plain ES module, no dependencies and no build step.
// The trend charts are charts.js, fed by the "conveyor:stats" event below.
//
// It polls the API through the same origin (nginx proxies /api/), renders the
// newest jobs and the stats, and submits jobs from the form. All text goes into
// the DOM through textContent, never innerHTML: job inputs, results and errors
// are user data.

const POLL_INTERVAL_MS = 1000;
const MAX_BACKOFF_MS = 10000;
const REQUEST_TIMEOUT_MS = 5000;
const JOBS_LIMIT = 20;
const RESULT_MAX_CHARS = 160;
const TITLE_MAX_CHARS = 2000;

// Relative URLs: they also work when the dashboard is served under a path
// prefix, as long as /api/ sits next to it.
const JOBS_URL = `api/jobs?limit=${JOBS_LIMIT}`;
const STATS_URL = "api/stats";
const SUBMIT_URL = "api/jobs";

const TASKS = {
  uppercase: {
    hint: "Any text; the worker returns it in upper case.",
    placeholder: "hello, conveyor",
    example: "",
    json: false,
  },
  wordcount: {
    hint: "Any text; the worker counts its words and characters and lists the most frequent words.",
    placeholder: "the quick brown fox jumps over the lazy dog",
    example: "",
    json: false,
  },
  sleep: {
    hint: 'A JSON object {"seconds": N}, N from 0 to 60: the worker waits that long.',
    placeholder: '{"seconds": 5}',
    example: '{"seconds": 2}',
    json: true,
  },
};

const $ = (id) => document.getElementById(id);

const els = {
  form: $("job-form"),
  task: $("task"),
  input: $("job-input"),
  hint: $("input-hint"),
  submit: $("submit-button"),
  formError: $("form-error"),
  formStatus: $("form-status"),
  connection: $("connection"),
  connectionText: $("connection-text"),
  jobsBody: $("jobs-body"),
  jobsEmpty: $("jobs-empty"),
  stats: $("stats"),
};

const numberFormat = new Intl.NumberFormat();
const timeFormat = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

// ---------------------------------------------------------------- helpers

// Writing only what changed keeps the once-a-second refresh from touching the
// DOM (and re-rendering) when nothing happened.
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function setAttr(el, name, value) {
  if (value === null || value === undefined) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== value) {
    el.setAttribute(name, value);
  }
}

function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

// The API sends ISO 8601 with microseconds; Date.parse is only specified for
// milliseconds, and a time without an offset is UTC on the server.
function parseTime(value) {
  if (!value) return null;
  let s = String(value).replace(/(\.\d{3})\d+/, "$1");
  if (!/(Z|[+-]\d\d:?\d\d)$/i.test(s)) s += "Z";
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? null : ms;
}

// Running times are measured against the server's clock when the browser's
// is noticeably off (the Date header has one-second resolution, so smaller
// differences are noise).
let clockOffsetMs = 0;
function noteServerClock(response) {
  const header = response.headers.get("Date");
  const server = header ? Date.parse(header) : NaN;
  if (Number.isNaN(server)) return;
  const offset = server - Date.now();
  clockOffsetMs = Math.abs(offset) > 1500 ? offset : 0;
}
const serverNow = () => Date.now() + clockOffsetMs;

function formatDuration(ms) {
  if (!(ms >= 0)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60000);
  if (minutes < 60) return `${minutes} min ${Math.floor((ms % 60000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function compactJSON(value) {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

// ---------------------------------------------------------------- API

class RequestError extends Error {}

// Returns {ok, status, data}; throws RequestError when there is no HTTP answer
// at all (network down, timeout).
async function request(url, { method = "GET", body } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      signal: controller.signal,
    });
  } catch (err) {
    throw new RequestError(
      err.name === "AbortError"
        ? "The API did not answer in time."
        : "Cannot reach the server; check your connection.",
    );
  } finally {
    clearTimeout(timer);
  }
  noteServerClock(response);
  let data = null;
  if ((response.headers.get("Content-Type") || "").includes("json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  return { ok: response.ok, status: response.status, data };
}

// The API's errors are {"error": {"code", "message", "details"}}.
function errorOf(result) {
  const error = result.data && result.data.error;
  if (error && typeof error.message === "string" && error.message) {
    return { message: error.message, details: detailLines(error.details) };
  }
  return { message: `The request failed (HTTP ${result.status}).`, details: [] };
}

// Validation details are usually a list of {loc, msg}; anything else is shown
// as compact JSON so nothing useful is hidden.
function detailLines(details) {
  if (details === null || details === undefined) return [];
  if (Array.isArray(details)) {
    return details.slice(0, 5).map((d) => {
      if (d && typeof d === "object" && typeof d.msg === "string") {
        const loc = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
        return loc ? `${loc}: ${d.msg}` : d.msg;
      }
      return typeof d === "string" ? d : compactJSON(d);
    });
  }
  if (typeof details === "string") return [details];
  return [compactJSON(details)];
}

// ---------------------------------------------------------------- form

let prefilled = "";

function applyTask() {
  const task = TASKS[els.task.value] || TASKS.uppercase;
  setText(els.hint, task.hint);
  els.input.placeholder = task.placeholder;
  // Replace the input only when the user has not typed anything of their own.
  if (els.input.value === "" || els.input.value === prefilled) {
    els.input.value = task.example;
    prefilled = task.example;
  }
  clearFormError();
}

function showFormError(message, details = []) {
  els.formError.replaceChildren();
  const p = document.createElement("p");
  p.textContent = message;
  p.dataset.testid = "form-error-message";
  els.formError.append(p);
  if (details.length) {
    const ul = document.createElement("ul");
    for (const line of details) {
      const li = document.createElement("li");
      li.textContent = line;
      ul.append(li);
    }
    els.formError.append(ul);
  }
  els.input.setAttribute("aria-invalid", "true");
  setText(els.formStatus, "");
}

function clearFormError() {
  if (els.formError.firstChild) els.formError.replaceChildren();
  els.input.removeAttribute("aria-invalid");
}

// Jobs submitted from this tab: their end is announced in the live region.
const mine = new Map(); // id -> last seen status

async function submitJob(event) {
  event.preventDefault();
  if (els.submit.disabled) return;
  const taskName = els.task.value;
  const task = TASKS[taskName];
  let input = els.input.value;
  if (task && task.json) {
    try {
      input = JSON.parse(input);
    } catch {
      showFormError(`The input for ${taskName} must be JSON, for example ${task.placeholder}.`);
      els.input.focus();
      return;
    }
  }

  clearFormError();
  els.submit.disabled = true;
  els.form.setAttribute("aria-busy", "true");
  setText(els.formStatus, "Submitting…");
  try {
    const result = await request(SUBMIT_URL, { method: "POST", body: { task: taskName, input } });
    if (result.ok && result.data && result.data.id) {
      const job = result.data;
      mine.set(job.id, job.status);
      setText(els.formStatus, `Job ${job.id.slice(0, 8)} (${job.task}) is ${job.status}.`);
      lastJobs = [job, ...lastJobs.filter((j) => j.id !== job.id)].slice(0, JOBS_LIMIT);
      renderJobs(lastJobs);
      refreshNow();
    } else {
      const { message, details } = errorOf(result);
      showFormError(message, details);
    }
  } catch (err) {
    showFormError(err.message);
  } finally {
    els.submit.disabled = false;
    els.form.removeAttribute("aria-busy");
  }
}

// ---------------------------------------------------------------- jobs table

const rows = new Map(); // job id -> {tr, cells}
let lastJobs = [];

function createRow(job) {
  const tr = document.createElement("tr");
  tr.dataset.jobId = job.id;
  tr.dataset.testid = "job-row";

  const idCell = document.createElement("th");
  idCell.scope = "row";
  const code = document.createElement("code");
  code.textContent = job.id.slice(0, 8);
  code.title = job.id;
  idCell.append(code);

  const task = document.createElement("td");
  task.dataset.testid = "job-task";

  const status = document.createElement("td");
  status.dataset.testid = "job-status";
  const badge = document.createElement("span");
  badge.className = "badge";
  const attempts = document.createElement("span");
  attempts.className = "attempts";
  status.append(badge, attempts);

  const result = document.createElement("td");
  result.className = "result";
  result.dataset.testid = "job-result";

  const duration = document.createElement("td");
  duration.className = "num";
  duration.dataset.testid = "job-duration";

  const created = document.createElement("td");
  created.className = "num";
  const time = document.createElement("time");
  created.append(time);

  tr.append(idCell, task, status, result, duration, created);
  return { tr, cells: { task, status, badge, attempts, result, duration, time } };
}

function resultText(job) {
  if (job.status === "failed") {
    const error = job.error;
    if (error === null || error === undefined) return "failed";
    if (typeof error === "string") return error;
    return (error && typeof error.message === "string" && error.message) || compactJSON(error);
  }
  const r = job.result;
  if (r === null || r === undefined) return "";
  if (typeof r === "string") return r;
  if (job.task === "wordcount" && typeof r.words === "number") {
    const top = Array.isArray(r.top)
      ? r.top.slice(0, 3).map((pair) => `${pair[0]} ×${pair[1]}`).join(", ")
      : "";
    return `${r.words} words, ${r.chars} chars${top ? ` · top: ${top}` : ""}`;
  }
  return compactJSON(r);
}

function durationText(job) {
  const started = parseTime(job.started_at);
  if (started === null) return "–";
  const finished = parseTime(job.finished_at);
  if (finished !== null) return formatDuration(finished - started);
  if (job.status === "running") return `${formatDuration(Math.max(0, serverNow() - started))} so far`;
  return "–";
}

function updateRow(row, job) {
  const { task, status, badge, attempts, result, duration, time } = row.cells;
  setText(task, job.task);

  setAttr(status, "data-status", job.status);
  setAttr(badge, "class", `badge badge--${job.status}`);
  setText(badge, job.status);
  setText(attempts, job.attempts > 1 ? ` after ${job.attempts} attempts` : "");

  const full = resultText(job);
  setText(result, truncate(full, RESULT_MAX_CHARS));
  setAttr(result, "title", full.length > RESULT_MAX_CHARS ? truncate(full, TITLE_MAX_CHARS) : null);
  setAttr(result, "data-kind", job.status === "failed" ? "error" : null);

  setText(duration, durationText(job));

  const created = parseTime(job.created_at);
  setAttr(time, "datetime", job.created_at || null);
  setText(time, created === null ? "–" : timeFormat.format(created));

  setAttr(row.tr, "data-mine", mine.has(job.id) ? "true" : null);
}

function renderJobs(items) {
  const seen = new Set();
  items.forEach((job, index) => {
    let row = rows.get(job.id);
    if (!row) {
      row = createRow(job);
      rows.set(job.id, row);
    }
    updateRow(row, job);
    seen.add(job.id);
    // Move rows only when they are out of place, so steady rows are not
    // re-inserted (and re-laid-out) every second.
    const current = els.jobsBody.children[index];
    if (current !== row.tr) els.jobsBody.insertBefore(row.tr, current || null);
  });
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.tr.remove();
      rows.delete(id);
    }
  }
  els.jobsEmpty.hidden = items.length > 0;
  announceFinishedJobs(items);
}

function announceFinishedJobs(items) {
  for (const job of items) {
    const before = mine.get(job.id);
    if (before === undefined || before === job.status) continue;
    mine.set(job.id, job.status);
    if (job.status === "succeeded" || job.status === "failed") {
      setText(els.formStatus, `Job ${job.id.slice(0, 8)} (${job.task}) ${job.status}.`);
      mine.delete(job.id);
    }
  }
}

// ---------------------------------------------------------------- stats

const STAT_FIELDS = [
  ["stat-queued", (s) => s.counts && s.counts.queued],
  ["stat-running", (s) => s.counts && s.counts.running],
  ["stat-succeeded", (s) => s.counts && s.counts.succeeded],
  ["stat-failed", (s) => s.counts && s.counts.failed],
  ["stat-queue-depth", (s) => s.queue_depth],
  ["stat-finished-last-minute", (s) => s.finished_last_minute],
  ["stat-workers", (s) => s.workers],
];

function renderStats(stats) {
  for (const [id, pick] of STAT_FIELDS) {
    const el = $(id);
    const value = pick(stats);
    if (typeof value === "number") {
      setAttr(el, "data-value", String(value));
      setText(el, numberFormat.format(value));
      setAttr(el, "title", null);
    } else {
      // null: the API cannot tell right now (e.g. Redis is down).
      setAttr(el, "data-value", "");
      setText(el, "n/a");
      setAttr(el, "title", "Not available right now");
    }
  }
  const redis = $("stat-redis");
  const state = stats.redis === "ok" ? "ok" : "degraded";
  setAttr(redis, "data-value", state);
  setText(redis, state);
}

// ---------------------------------------------------------------- polling

let pollTimer = null;
let polling = false;
let refreshQueued = false;
let failures = 0;

function setConnection(state, text) {
  const previous = els.connection.dataset.state;
  setAttr(els.connection, "data-state", state);
  setText(els.connectionText, text);
  // Announce losing and regaining the API, not every refresh.
  if (previous === "live" && state === "error") {
    setText(els.formStatus, `Lost contact with the API: ${text}`);
  } else if (previous === "error" && state === "live") {
    setText(els.formStatus, "Connected to the API again.");
  }
}

async function refresh() {
  const [jobs, stats] = await Promise.allSettled([request(JOBS_URL), request(STATS_URL)]);
  let problem = null;

  if (jobs.status === "fulfilled" && jobs.value.ok && jobs.value.data) {
    lastJobs = Array.isArray(jobs.value.data.items) ? jobs.value.data.items : [];
    renderJobs(lastJobs);
  } else {
    problem = jobs.status === "rejected" ? jobs.reason.message : errorOf(jobs.value).message;
  }
  if (stats.status === "fulfilled" && stats.value.ok && stats.value.data) {
    renderStats(stats.value.data);
    // For the trend charts (charts.js), which keep the last minutes of these.
    document.dispatchEvent(
      new CustomEvent("conveyor:stats", { detail: { stats: stats.value.data, at: performance.now() } }),
    );
  } else if (problem === null) {
    problem = stats.status === "rejected" ? stats.reason.message : errorOf(stats.value).message;
  }
  // Old numbers stay on screen but are dimmed while they cannot be refreshed.
  document.body.toggleAttribute("data-stale", problem !== null);

  if (problem === null) {
    failures = 0;
    setConnection("live", "Live");
  } else {
    failures += 1;
    setConnection("error", problem);
  }
}

async function poll() {
  pollTimer = null;
  if (document.hidden) return;
  polling = true;
  try {
    await refresh();
  } catch (err) {
    // A bug while rendering must not stop the updates for good.
    console.warn("dashboard refresh failed", err);
    failures += 1;
  } finally {
    polling = false;
    if (refreshQueued) {
      refreshQueued = false;
      poll();
    } else {
      schedule();
    }
  }
}

function schedule() {
  if (document.hidden || pollTimer !== null) return;
  const delay = failures === 0 ? POLL_INTERVAL_MS : Math.min(POLL_INTERVAL_MS * 2 ** failures, MAX_BACKOFF_MS);
  pollTimer = setTimeout(poll, delay);
}

function refreshNow() {
  if (pollTimer !== null) {
    clearTimeout(pollTimer);
    pollTimer = null;
  }
  if (polling) refreshQueued = true;
  else poll();
}

// A hidden tab polls nothing: no load on the API for dashboards left open.
function onVisibilityChange() {
  if (document.hidden) {
    if (pollTimer !== null) clearTimeout(pollTimer);
    pollTimer = null;
    setConnection("paused", "Paused while the tab is hidden");
  } else {
    refreshNow();
  }
}

// ---------------------------------------------------------------- start

els.task.addEventListener("change", applyTask);
els.form.addEventListener("submit", submitJob);
els.input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    els.form.requestSubmit();
  }
});
els.input.addEventListener("input", () => {
  if (els.input.hasAttribute("aria-invalid")) clearFormError();
});
document.addEventListener("visibilitychange", onVisibilityChange);

applyTask();
poll();
