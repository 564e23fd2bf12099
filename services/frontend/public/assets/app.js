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
const STATS_URL = "api/stats";
const SUBMIT_URL = "api/jobs";
const jobUrl = (id, action) => `api/jobs/${encodeURIComponent(id)}/${action}`;

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
  fail: {
    hint: 'A JSON object {"message": "…"}: the worker raises it, retries with backoff, then the job fails.',
    placeholder: '{"message": "failed on purpose"}',
    example: '{"message": "failed on purpose"}',
    json: true,
  },
};

const $ = (id) => document.getElementById(id);

const els = {
  form: $("job-form"),
  task: $("task"),
  input: $("job-input"),
  hint: $("input-hint"),
  priority: $("priority"),
  delay: $("delay"),
  submit: $("submit-button"),
  formError: $("form-error"),
  formStatus: $("form-status"),
  connection: $("connection"),
  connectionText: $("connection-text"),
  jobsTable: $("jobs"),
  jobsCaption: $("jobs-caption"),
  jobsBody: $("jobs-body"),
  jobsEmpty: $("jobs-empty"),
  statusFilter: $("status-filter"),
  pageNewest: $("page-newest"),
  pageNewer: $("page-newer"),
  pageOlder: $("page-older"),
  pageStatus: $("page-status"),
  stats: $("stats"),
};

const numberFormat = new Intl.NumberFormat();
const timeFormat = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
// A due time later than today needs its date too.
function formatDue(ms) {
  const sameDay = new Date(ms).toDateString() === new Date(serverNow()).toDateString();
  return (sameDay ? timeFormat : dateTimeFormat).format(ms);
}

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

// field: the control the error is about (aria-invalid), or null for an error
// that is not the form's (a cancel or retry in the table).
function showFormError(message, details = [], field = els.input) {
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
  for (const el of [els.input, els.delay, els.priority]) {
    if (el === field) el.setAttribute("aria-invalid", "true");
    else el.removeAttribute("aria-invalid");
  }
  setText(els.formStatus, "");
}

function clearFormError() {
  if (els.formError.firstChild) els.formError.replaceChildren();
  for (const el of [els.input, els.delay, els.priority]) el.removeAttribute("aria-invalid");
}

// Which control an API validation error is about, from its details' loc.
function fieldOf(details) {
  const text = compactJSON(details);
  if (text.includes("delay_seconds") || text.includes("run_at")) return els.delay;
  if (text.includes("priority")) return els.priority;
  return els.input;
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

  const body = { task: taskName, input, priority: els.priority.value };
  // A number input's value is "" both when empty and when it holds no number.
  if (els.delay.validity.badInput) {
    showFormError("The delay must be a number of seconds, or empty to run at once.", [], els.delay);
    els.delay.focus();
    return;
  }
  if (els.delay.value !== "") body.delay_seconds = Number(els.delay.value);

  clearFormError();
  els.submit.disabled = true;
  els.form.setAttribute("aria-busy", "true");
  setText(els.formStatus, "Submitting…");
  try {
    const result = await request(SUBMIT_URL, { method: "POST", body });
    if (result.ok && result.data && result.data.id) {
      const job = result.data;
      mine.set(job.id, job.status);
      setText(els.formStatus, `Job ${job.id.slice(0, 8)} (${job.task}) is ${displayStatus(job)}.`);
      // Shown at once only where the next refresh would show it too.
      if (view.cursors.length === 1 && (view.status === "" || view.status === job.status)) {
        lastJobs = [job, ...lastJobs.filter((j) => j.id !== job.id)].slice(0, JOBS_LIMIT);
        renderJobs(lastJobs);
      }
      refreshNow();
    } else {
      const { message, details } = errorOf(result);
      showFormError(message, details, fieldOf(details));
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
  idCell.tabIndex = -1; // focus lands here when the row's button it was on goes away
  const code = document.createElement("code");
  code.textContent = job.id.slice(0, 8);
  code.title = job.id;
  idCell.append(code);

  const task = document.createElement("td");
  task.dataset.testid = "job-task";

  const priority = document.createElement("td");
  priority.dataset.testid = "job-priority";

  const status = document.createElement("td");
  status.dataset.testid = "job-status";
  const badge = document.createElement("span");
  badge.className = "badge";
  const attempts = document.createElement("span");
  attempts.className = "attempts";
  const due = document.createElement("time");
  due.className = "due";
  due.dataset.testid = "job-due";
  status.append(badge, due, attempts);

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

  const actions = document.createElement("td");
  actions.className = "actions";
  const cancel = actionButton(job, "cancel", "Cancel");
  const retry = actionButton(job, "retry", "Retry");
  actions.append(cancel, retry);

  tr.append(idCell, task, priority, status, result, duration, created, actions);
  return { tr, cells: { idCell, task, priority, status, badge, due, attempts, result, duration, time, cancel, retry } };
}

function actionButton(job, action, label) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary small";
  button.textContent = label;
  // Every row has one: the accessible name says which job it acts on.
  button.setAttribute("aria-label", `${label} job ${job.id.slice(0, 8)}`);
  button.dataset.testid = `job-${action}`;
  button.dataset.action = action;
  button.hidden = true;
  return button;
}

// A queued job whose time has not come yet is shown as scheduled.
function dueAt(job) {
  const due = job.status === "queued" ? parseTime(job.run_at) : null;
  return due !== null && due > serverNow() ? due : null;
}

function displayStatus(job) {
  return dueAt(job) === null ? job.status : "scheduled";
}

const CANCELABLE = new Set(["queued", "running"]);
const RETRYABLE = new Set(["failed", "canceled"]);

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
  const { task, priority, status, badge, due, attempts, result, duration, time, cancel, retry } = row.cells;
  setText(task, job.task);
  setText(priority, job.priority || "normal");
  setAttr(priority, "data-priority", job.priority || "normal");

  const shown = displayStatus(job);
  setAttr(status, "data-status", job.status);
  setAttr(status, "data-shown", shown);
  setAttr(badge, "class", `badge badge--${shown}`);
  setText(badge, shown);
  const dueMs = dueAt(job);
  setAttr(due, "datetime", dueMs === null ? null : job.run_at);
  setText(due, dueMs === null ? "" : ` for ${formatDue(dueMs)}`);
  const stopping = job.status === "running" && job.cancel_requested_at;
  setText(
    attempts,
    (job.attempts > 1 ? ` after ${job.attempts} attempts` : "") + (stopping ? " · stopping" : ""),
  );

  // aria-disabled while a request is out: a disabled button would lose the focus.
  const busy = row.busy === true ? "true" : null;
  // Read before hiding: Chromium blurs a button as it is hidden.
  const focused = document.activeElement;
  cancel.hidden = !CANCELABLE.has(job.status) || Boolean(stopping);
  retry.hidden = !RETRYABLE.has(job.status);
  setAttr(cancel, "aria-disabled", busy);
  setAttr(retry, "aria-disabled", busy);
  // A keyboard user whose button just went away stays on the row.
  if ((focused === cancel || focused === retry) && focused.hidden) row.cells.idCell.focus();

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
  setText(els.jobsEmpty, emptyText());
  announceFinishedJobs(items);
}

function announceFinishedJobs(items) {
  for (const job of items) {
    const before = mine.get(job.id);
    if (before === undefined || before === job.status) continue;
    mine.set(job.id, job.status);
    if (job.status === "succeeded" || job.status === "failed" || job.status === "canceled") {
      setText(els.formStatus, `Job ${job.id.slice(0, 8)} (${job.task}) ${job.status}.`);
      mine.delete(job.id);
    }
  }
}

// ---------------------------------------------------------------- cancel, retry

const ACTION_DONE = {
  cancel: (job) => (job.status === "running" ? "is asked to stop" : "is canceled"),
  retry: (job) => `is ${displayStatus(job)} again`,
};

async function onRowAction(event) {
  const button = event.target.closest("button[data-action]");
  const id = button && button.closest("tr").dataset.jobId;
  const row = id && rows.get(id);
  if (!row || row.busy) return;
  const action = button.dataset.action;
  clearFormError();
  row.busy = true;
  setAttr(button, "aria-disabled", "true");
  try {
    const result = await request(jobUrl(id, action), { method: "POST" });
    if (result.ok && result.data && result.data.id === id) {
      const job = result.data;
      lastJobs = lastJobs.map((j) => (j.id === id ? job : j));
      // Its end is announced like a submitted job's; one canceled at once has ended.
      if (CANCELABLE.has(job.status)) mine.set(id, job.status);
      setText(els.formStatus, `Job ${id.slice(0, 8)} (${job.task}) ${ACTION_DONE[action](job)}.`);
      row.busy = false;
      updateRow(row, job);
    } else {
      const { message, details } = errorOf(result);
      showFormError(message, details, null);
    }
  } catch (err) {
    showFormError(err.message, [], null);
  } finally {
    row.busy = false;
    setAttr(button, "aria-disabled", null);
  }
  refreshNow();
}

// ---------------------------------------------------------------- filter, pages

// What the table shows: a status (or all) and a page, as the cursors that
// lead to it (null: the newest). Only the newest page gains new jobs as they
// arrive; an older page keeps its jobs, refreshed in place.
const view = { status: "", cursors: [null], next: null, generation: 0 };

function jobsUrl() {
  const params = new URLSearchParams({ limit: String(JOBS_LIMIT) });
  if (view.status) params.set("status", view.status);
  const before = view.cursors[view.cursors.length - 1];
  if (before) params.set("before", before);
  return `api/jobs?${params}`;
}

function renderView() {
  const page = view.cursors.length;
  const what = view.status ? `${view.status} jobs` : "jobs";
  setText(
    els.jobsCaption,
    page === 1
      ? `The newest ${what}, ${JOBS_LIMIT} a page, newest first, updated every second.`
      : `Older ${what}, page ${page} (${JOBS_LIMIT} a page), newest first, updated every second.`,
  );
  setText(els.pageStatus, `Page ${page}`);
  setAttr(els.pageNewest, "aria-disabled", page === 1 ? "true" : null);
  setAttr(els.pageNewer, "aria-disabled", page === 1 ? "true" : null);
  setAttr(els.pageOlder, "aria-disabled", view.next ? null : "true");
}

function changeView(update) {
  update();
  view.next = null;
  view.generation += 1;
  els.jobsTable.setAttribute("aria-busy", "true");
  renderView();
  refreshNow();
}

function emptyText() {
  if (view.cursors.length > 1) return "No older jobs on this page.";
  return view.status ? `No ${view.status} jobs.` : "No jobs yet: submit one above.";
}

// aria-disabled rather than disabled: the button keeps the focus.
function pageButton(button, update) {
  button.addEventListener("click", () => {
    if (button.getAttribute("aria-disabled") !== "true") changeView(update);
  });
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
  const generation = view.generation;
  const [jobs, stats] = await Promise.allSettled([request(jobsUrl()), request(STATS_URL)]);
  let problem = null;

  if (generation !== view.generation) {
    // The filter or page changed meanwhile: this answer is for the old one.
  } else if (jobs.status === "fulfilled" && jobs.value.ok && jobs.value.data) {
    lastJobs = Array.isArray(jobs.value.data.items) ? jobs.value.data.items : [];
    view.next = jobs.value.data.next || null;
    renderJobs(lastJobs);
    renderView();
    els.jobsTable.removeAttribute("aria-busy");
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
for (const field of [els.input, els.delay]) {
  field.addEventListener("input", () => {
    if (field.hasAttribute("aria-invalid")) clearFormError();
  });
}
document.addEventListener("visibilitychange", onVisibilityChange);
els.jobsBody.addEventListener("click", onRowAction);
els.statusFilter.addEventListener("change", () =>
  changeView(() => {
    view.status = els.statusFilter.value;
    view.cursors = [null];
  }),
);
pageButton(els.pageNewest, () => (view.cursors = [null]));
pageButton(els.pageNewer, () => view.cursors.pop());
pageButton(els.pageOlder, () => view.cursors.push(view.next));

applyTask();
renderView();
poll();
