// The operators' console: one page, no dependencies, speaking only the HTTP API with a bearer
// token kept in this tab's sessionStorage (no cookies, so no CSRF). The sign-in link carries the
// token in the URL fragment, which browsers never send to a server or write into a log; it is
// moved into storage and removed from the address bar at once.
"use strict";

const TOKEN_KEY = "evently-console-token";
const REFRESH_MS = 5000;
// With the live stream on, counts arrive by themselves; the charts are read again this often.
const LIVE_REFRESH_MS = 30000;
const STATES = ["available", "scheduled", "running", "retryable", "completed", "cancelled", "discarded"];
const PAGE_SIZE = 50;

let refreshTimer = null;
let renderSerial = 0;

// ---------------------------------------------------------------------------------------------
// Token and API

function takeTokenFromFragment() {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + "#/overview");
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

function tokenClaims() {
  try {
    const part = token().split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
  } catch (error) {
    return {};
  }
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const headers = { "Authorization": "Bearer " + token(), "Accept": "application/json" };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (error) { json = null; }
  if (response.status === 401) {
    signOut("Your sign-in has expired or was refused: sign in again.");
    throw new ApiError(401, "unauthorized", "signed out");
  }
  if (!response.ok) {
    const error = (json && json.error) || {};
    throw new ApiError(response.status, error.code || "http_" + response.status, error.message || response.statusText);
  }
  return { json, nextCursor: response.headers.get("X-Next-Cursor") };
}

// ---------------------------------------------------------------------------------------------
// Small DOM helpers: every text goes in as a text node, never parsed as HTML.

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function table(headers, rows, options = {}) {
  if (rows.length === 0) return el("p", { class: "empty" }, options.empty || "Nothing here.");
  return el("div", { class: "table-wrap" },
    el("table", {},
      el("thead", {}, el("tr", {}, headers.map(h => el("th", { scope: "col", class: h.num ? "num" : null }, h.label || h)))),
      el("tbody", {}, rows)));
}

function stateBadge(state) { return el("span", { class: "state " + state }, state); }

function when(text) {
  if (!text) return "—";
  const date = new Date(text);
  return isNaN(date) ? text : date.toLocaleString();
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 90) return Math.round(seconds) + " s";
  if (seconds < 5400) return Math.round(seconds / 60) + " min";
  return (seconds / 3600).toFixed(1) + " h";
}

function toast(message, bad) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.className = bad ? "bad" : "";
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, bad ? 8000 : 4000);
}

function confirmAction(text) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  return new Promise(resolve => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    document.getElementById("confirm-ok").focus();
  });
}

async function act(label, work) {
  try {
    const message = await work();
    toast(message || label + ": done");
    await route();
  } catch (error) {
    if (error.status !== 401) toast(label + " failed: " + error.message, true);
  }
}

// ---------------------------------------------------------------------------------------------
// Router

function parseHash() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = (path || "/overview").split("/").filter(Boolean);
  return { view: parts[0] || "overview", id: parts[1], params: new URLSearchParams(query || "") };
}

function go(view, params) {
  const query = params && [...params].length ? "?" + params.toString() : "";
  location.hash = "#/" + view + query;
}

const views = {};

async function route() {
  clearTimeout(refreshTimer);
  if (!token()) { showSignIn(); return; }
  document.getElementById("sign-in").hidden = true;
  const { view, id, params } = parseHash();
  if (view !== "overview") closeLiveQueues();
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === (view === "job" ? "jobs" : view)) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const claims = tokenClaims();
  document.getElementById("who").textContent = (claims.email || "") + (claims.role ? " · " + claims.role : "");
  const render = views[view] || views.overview;
  const serial = ++renderSerial;
  const target = document.getElementById("view");
  try {
    const content = await render(id, params);
    if (serial !== renderSerial) return;   // a newer navigation won
    content.dataset.hash = location.hash;   // which navigation this view shows (tests wait on it)
    target.replaceChildren(content);
    document.title = (content.dataset.title || view) + " · evently-jobs";
  } catch (error) {
    if (serial !== renderSerial || error.status === 401) return;
    target.replaceChildren(el("h1", {}, "Could not load this view"), el("p", { class: "error-text" }, error.message));
  }
}

function autoRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    // Do not re-render under a person typing or choosing.
    if (document.activeElement && ["INPUT", "SELECT"].includes(document.activeElement.tagName)) { autoRefresh(); return; }
    route();
  }, document.body.dataset.live === "on" ? LIVE_REFRESH_MS : REFRESH_MS);
}

// ---------------------------------------------------------------------------------------------
// Live queue counts: a WebSocket to /v1/live subscribed to "queues" (the token goes as a
// subprotocol, since a browser's WebSocket cannot send headers). While it is open the overview's
// counts change in place once a second and the page polls only for its charts; when it closes the
// page polls as before.

let liveSocket = null;
let liveCounts = null;

function openLiveQueues(onCounts) {
  liveCounts = onCounts;
  if (liveSocket) return;
  let socket;
  try {
    socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/live",
      ["evently.live", "bearer." + token()]);
  } catch (error) {
    return;
  }
  liveSocket = socket;
  socket.onopen = () => socket.send(JSON.stringify({ subscribe: ["queues"] }));
  socket.onmessage = event => {
    let message = null;
    try { message = JSON.parse(event.data); } catch (error) { return; }
    if (message.type === "queues" && liveCounts) {
      if (document.body.dataset.live !== "on") {
        document.body.dataset.live = "on";
        autoRefresh();   // from now on at the slower pace
      }
      liveCounts(message.data || []);
    }
  };
  socket.onclose = () => {
    if (liveSocket === socket) liveSocket = null;
    document.body.dataset.live = "off";
  };
}

function closeLiveQueues() {
  liveCounts = null;
  if (liveSocket) liveSocket.close(1000, "left the overview");
  liveSocket = null;
  document.body.dataset.live = "off";
}

function showQueueCounts(queues) {
  for (const queue of queues) {
    const card = document.querySelector(`article[data-queue="${CSS.escape(queue.queue)}"]`);
    if (!card) continue;
    for (const cell of card.querySelectorAll("[data-count]")) {
      cell.textContent = String((queue.counts || {})[cell.dataset.count] || 0);
    }
  }
}

function showSignIn(message) {
  document.getElementById("view").replaceChildren(message ? el("p", { class: "error-text" }, message) : "");
  document.getElementById("sign-in").hidden = false;
  document.getElementById("who").textContent = "";
  document.getElementById("token-input").focus();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  closeLiveQueues();
  clearTimeout(refreshTimer);
  showSignIn(message);
}

// ---------------------------------------------------------------------------------------------
// Overview: per queue, counts by state, oldest available age, the last hour as small charts.

function sparkline(points) {
  const width = 240, height = 44;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  const max = Math.max(1, ...points.map(p => Math.max(p.completed, p.failed)));
  for (const [key, css] of [["completed", "done"], ["failed", "failed"]]) {
    const path = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    const step = points.length > 1 ? width / (points.length - 1) : width;
    path.setAttribute("points", points.map((p, i) => `${(i * step).toFixed(1)},${(height - 2 - (p[key] / max) * (height - 4)).toFixed(1)}`).join(" "));
    path.setAttribute("class", css);
    svg.append(path);
  }
  const total = points.reduce((sum, p) => sum + p.completed, 0), failed = points.reduce((sum, p) => sum + p.failed, 0);
  svg.setAttribute("aria-label", `last hour: ${total} completed, ${failed} failed`);
  return svg;
}

function perMinute(stats, queue) {
  const now = Math.floor(Date.now() / 60000);
  const buckets = new Map();
  for (let i = 59; i >= 0; i--) buckets.set(now - i, { completed: 0, failed: 0 });
  for (const row of stats.filter(r => r.queue === queue)) {
    const bucket = buckets.get(Math.floor(new Date(row.minute).getTime() / 60000));
    if (!bucket) continue;
    bucket.completed += row.completed || 0;
    bucket.failed += (row.discarded || 0);
  }
  return [...buckets.values()];
}

views.overview = async function () {
  const [queues, stats] = await Promise.all([
    api("GET", "/v1/queues?limit=200"),
    api("GET", "/v1/stats?minutes=60").catch(() => ({ json: [] })),
  ]);
  const cards = queues.json.map(queue => {
    const counts = queue.counts || {};
    const series = perMinute(stats.json || [], queue.queue);
    const pause = el("button", {
      type: "button", class: queue.paused ? null : "quiet",
      onclick: () => act(queue.paused ? "Resume" : "Pause", async () => {
        await api("POST", `/v1/queues/${encodeURIComponent(queue.queue)}/${queue.paused ? "resume" : "pause"}`);
        return `queue ${queue.queue} ${queue.paused ? "resumed" : "paused"}`;
      }),
    }, queue.paused ? "Resume" : "Pause");
    const stuck = Object.entries(queue.without_live_worker || {});
    return el("article", { class: "card", "data-queue": queue.queue },
      el("h2", {}, el("span", {}, queue.queue, " ", queue.paused ? stateBadge("paused") : ""), pause),
      el("div", { class: "counts" }, ["available", "running", "retryable", "scheduled"].map(state =>
        el("div", {}, el("strong", { "data-count": state }, String(counts[state] || 0)),
          el("a", { href: `#/jobs?state=${state}&queue=${encodeURIComponent(queue.queue)}` }, state)))),
      el("p", { class: "muted" }, "Oldest available: ", age(queue.oldest_available_age_seconds),
        " · completed in the last ", Math.round((queue.recent_window_seconds || 300) / 60), " min: ", String(queue.completed_recently || 0),
        " · discarded: ", el("a", { href: `#/jobs?state=discarded&queue=${encodeURIComponent(queue.queue)}` }, String(counts.discarded || 0))),
      sparkline(series),
      el("p", { class: "legend" }, "last hour per minute: ", el("span", { class: "g" }, "completed"), " / ", el("span", { class: "r" }, "discarded")),
      stuck.length ? el("p", { class: "error-text" }, "Waiting for a daemon that can run them: ",
        stuck.map(([kind, n]) => `${kind} (${n})`).join(", ")) : "");
  });
  openLiveQueues(showQueueCounts);
  autoRefresh();
  const page = el("div", { "data-title": "Overview" }, el("h1", {}, "Queues"),
    cards.length ? el("div", { class: "cards" }, cards) : el("p", { class: "empty" }, "No jobs yet."));
  return page;
};

// ---------------------------------------------------------------------------------------------
// Jobs: filters, cursor pages, select some or all matching, bulk retry / cancel / delete.

const FILTER_KEYS = ["state", "kind", "queue", "since", "until", "q", "error"];

function filterFrom(params) {
  const filter = {};
  for (const key of FILTER_KEYS) {
    const value = params.get(key);
    if (!value) continue;
    if (key === "state") filter.state = value.split(",").filter(Boolean);
    else if (key === "since" || key === "until") filter[key] = new Date(value).toISOString();
    else filter[key] = value;
  }
  return filter;
}

// Percent-encoded by hand: URLSearchParams writes a space as "+", which the server reads as a plus.
function apiQuery(params, extra) {
  const pairs = [];
  for (const key of FILTER_KEYS) {
    const value = params.get(key);
    if (!value) continue;
    pairs.push([key, key === "since" || key === "until" ? new Date(value).toISOString() : value]);
  }
  for (const [key, value] of Object.entries(extra || {})) if (value) pairs.push([key, value]);
  return pairs.map(([key, value]) => encodeURIComponent(key) + "=" + encodeURIComponent(value)).join("&");
}

function lastError(job) {
  const errors = job.errors || [];
  return errors.length ? errors[errors.length - 1].error : "";
}

views.jobs = async function (_, params) {
  const cursor = params.get("cursor");
  const page = await api("GET", "/v1/jobs?" + apiQuery(params, { limit: String(PAGE_SIZE), cursor }));
  const jobs = page.json;
  const selected = new Set();

  const form = el("form", { class: "filters", role: "search", onsubmit: event => {
    event.preventDefault();
    const data = new FormData(event.target);
    const next = new URLSearchParams();
    for (const key of FILTER_KEYS) {
      const value = (data.get(key) || "").trim();
      if (value) next.set(key, value);
    }
    go("jobs", next);
  } },
    el("div", {}, el("label", { for: "f-state" }, "State"),
      el("select", { id: "f-state", name: "state" }, el("option", { value: "" }, "any"),
        STATES.map(s => el("option", { value: s, selected: params.get("state") === s }, s)),
        el("option", { value: "discarded,retryable", selected: params.get("state") === "discarded,retryable" }, "failing"))),
    el("div", {}, el("label", { for: "f-kind" }, "Kind"), el("input", { id: "f-kind", name: "kind", value: params.get("kind") || "" })),
    el("div", {}, el("label", { for: "f-queue" }, "Queue"), el("input", { id: "f-queue", name: "queue", value: params.get("queue") || "" })),
    el("div", {}, el("label", { for: "f-since" }, "Created since"), el("input", { id: "f-since", name: "since", type: "datetime-local", value: params.get("since") || "" })),
    el("div", {}, el("label", { for: "f-until" }, "Created until"), el("input", { id: "f-until", name: "until", type: "datetime-local", value: params.get("until") || "" })),
    el("div", { class: "wide" }, el("label", { for: "f-q" }, "Text in arguments or errors"), el("input", { id: "f-q", name: "q", type: "search", value: params.get("q") || "" })),
    params.get("error") ? el("input", { type: "hidden", name: "error", value: params.get("error") }) : "",
    el("div", {}, el("button", { type: "submit" }, "Search")));

  const countLine = el("span", { class: "muted", id: "selection" }, "");
  const bulk = (action, label) => el("button", { type: "button", class: action === "delete" ? "danger" : null, "data-action": action,
    onclick: async () => {
      if (selected.size > 0) {
        if (!await confirmAction(`${label} ${selected.size} selected job(s)?`)) return;
        await act(label, async () => {
          const result = (await api("POST", "/v1/jobs/bulk", { action, ids: [...selected] })).json;
          return `${label}: ${result.changed} of ${result.matched} changed`;
        });
        return;
      }
      const counted = (await api("GET", "/v1/jobs/count?" + apiQuery(params))).json;
      const n = counted.capped ? `more than ${counted.count}`
        : counted.partial ? `at least ${counted.count} (counted in the newest jobs only)` : String(counted.count);
      if (!await confirmAction(`${label} all ${n} job(s) matching this filter?`)) return;
      await act(label, async () => {
        const result = (await api("POST", "/v1/jobs/bulk", { action, filter: filterFrom(params) })).json;
        return `${label}: ${result.changed} of ${result.matched} changed`;
      });
    } }, label);
  const updateSelection = () => {
    countLine.textContent = selected.size ? `${selected.size} selected` : "nothing selected: the buttons act on all jobs matching the filter";
  };
  updateSelection();

  const rows = jobs.map(job => el("tr", { "data-job": String(job.id) },
    el("td", {}, el("input", { type: "checkbox", "aria-label": `select job ${job.id}`,
      onchange: event => { event.target.checked ? selected.add(job.id) : selected.delete(job.id); updateSelection(); } })),
    el("td", {}, el("a", { href: `#/job/${job.id}` }, String(job.id))),
    el("td", {}, job.kind),
    el("td", { class: "hide-narrow" }, job.queue),
    el("td", {}, stateBadge(job.state)),
    el("td", { class: "num" }, `${job.attempt}/${job.max_attempts}`),
    el("td", { class: "error-text" }, lastError(job).slice(0, 160))));

  // A text search reads history for a bounded time per page: a short page with a next page
  // means the search stopped there, not that nothing older matches.
  const searchedOn = params.get("q") && page.nextCursor && jobs.length < PAGE_SIZE;
  const nav = el("div", { class: "actions" },
    searchedOn ? el("span", { class: "muted", id: "search-continues" }, "The search stopped at its time limit; older jobs may match.") : "",
    cursor ? el("button", { type: "button", class: "quiet", onclick: () => history.back() }, "Previous") : "",
    page.nextCursor ? el("button", { type: "button", class: "quiet", onclick: () => {
      const next = new URLSearchParams(params);
      next.set("cursor", page.nextCursor);
      go("jobs", next);
    } }, searchedOn ? "Search older jobs" : "Next page") : "");

  return el("div", { "data-title": "Jobs" }, el("h1", {}, "Jobs"), form,
    el("div", { class: "actions" }, bulk("retry", "Retry"), bulk("cancel", "Cancel"), bulk("delete", "Delete"), countLine),
    table(["", "Id", "Kind", { label: "Queue" }, "State", { label: "Attempt", num: true }, "Last error"], rows, { empty: "No job matches." }),
    nav);
};

// ---------------------------------------------------------------------------------------------
// One job: arguments, every attempt's error, retry and cancel.

function parsedArgs(args) {
  if (typeof args !== "string") return args;
  try { return JSON.parse(args); } catch (error) { return args; }
}

views.job = async function (id) {
  const job = (await api("GET", `/v1/jobs/${encodeURIComponent(id)}`)).json;
  const facts = [["Kind", job.kind], ["Queue", job.queue], ["State", stateBadge(job.state)],
    ["Attempt", `${job.attempt} of ${job.max_attempts}`], ["Priority", job.priority], ["Run at", when(job.run_at)],
    ["Created", when(job.created_at)], ["Attempted at", when(job.attempted_at)], ["Attempted by", job.attempted_by || "—"],
    ["Finished", when(job.finalized_at)], ["Unique key", job.unique_key || "—"], ["Tags", (job.tags || []).join(", ") || "—"]];
  const errors = (job.errors || []).map(e => el("tr", {},
    el("td", { class: "num" }, String(e.attempt)), el("td", {}, when(e.at)), el("td", {}, e.kind || ""), el("td", { class: "error-text" }, e.error)));
  return el("div", { "data-title": `Job ${job.id}` },
    el("h1", {}, `Job ${job.id}`),
    el("div", { class: "actions" },
      el("button", { type: "button", "data-action": "retry", onclick: () => act("Retry", async () => {
        await api("POST", `/v1/jobs/${job.id}/retry`);
        return `job ${job.id} will run again`;
      }) }, "Retry"),
      el("button", { type: "button", class: "quiet", "data-action": "cancel", onclick: () => act("Cancel", async () => {
        await api("POST", `/v1/jobs/${job.id}/cancel`);
        return `job ${job.id} cancelled`;
      }) }, "Cancel"),
      el("a", { href: "#/jobs" }, "All jobs")),
    table(["Fact", "Value"], facts.map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, v)))),
    el("h2", {}, "Arguments"), el("pre", {}, JSON.stringify(parsedArgs(job.args), null, 2)),
    el("h2", {}, "Attempts that failed"),
    table([{ label: "Attempt", num: true }, "At", "Kind", "Error"], errors, { empty: "No failed attempt." }));
};

// ---------------------------------------------------------------------------------------------
// Failures grouped by kind and error.

views.failures = async function () {
  const groups = (await api("GET", "/v1/failures")).json;
  const rows = groups.map(group => {
    const filter = new URLSearchParams({ state: "discarded,retryable", kind: group.kind, error: group.error });
    return el("tr", {},
      el("td", {}, group.kind),
      el("td", { class: "error-text" }, group.error),
      el("td", { class: "num" }, String(group.count)),
      el("td", { class: "num hide-narrow" }, String(group.discarded)),
      el("td", { class: "num hide-narrow" }, String(group.retryable)),
      el("td", { class: "hide-narrow" }, when(group.first_seen)),
      el("td", {}, when(group.last_seen)),
      el("td", {}, el("a", { href: "#/jobs?" + filter.toString() }, "jobs"), " ",
        el("button", { type: "button", class: "quiet", onclick: async () => {
          if (!await confirmAction(`Retry the ${group.count} job(s) of this group?`)) return;
          await act("Retry group", async () => {
            const result = (await api("POST", "/v1/jobs/bulk", { action: "retry", filter: { state: ["discarded", "retryable"], kind: group.kind, error: group.error } })).json;
            return `retried ${result.changed} job(s)`;
          });
        } }, "Retry group")));
  });
  return el("div", { "data-title": "Failures" }, el("h1", {}, "Failures in the last 24 hours"),
    table(["Kind", "Error", { label: "Jobs", num: true }, { label: "Discarded", num: true }, { label: "Retrying", num: true }, "First seen", "Last seen", ""],
      rows, { empty: "No failing jobs." }));
};

// ---------------------------------------------------------------------------------------------
// Schedules, daemons, bookings.

views.schedules = async function () {
  const schedules = (await api("GET", "/v1/schedules")).json;
  const rows = schedules.map(s => el("tr", {},
    el("td", {}, s.name), el("td", { class: "mono" }, s.cron), el("td", {}, s.time_zone), el("td", {}, s.kind),
    el("td", {}, s.enabled ? "yes" : "no"),
    el("td", {}, (s.next_fire_times || []).map(when).join(", ")),
    el("td", {}, when(s.last_tick)),
    el("td", {}, el("button", { type: "button", class: "quiet", onclick: () => act("Run now", async () => {
      const result = (await api("POST", `/v1/schedules/${encodeURIComponent(s.name)}/run`)).json;
      return `schedule ${s.name} enqueued job ${result.id}`;
    }) }, "Run now"))));
  return el("div", { "data-title": "Schedules" }, el("h1", {}, "Schedules"),
    table(["Name", "Cron", "Zone", "Kind", "Enabled", "Next", "Last tick", ""], rows, { empty: "No schedules are configured." }));
};

views.daemons = async function () {
  const daemons = (await api("GET", "/v1/daemons")).json;
  const rows = daemons.map(d => el("tr", {},
    el("td", {}, d.name), el("td", {}, stateBadge(d.live === false ? "gone" : "live")),
    el("td", {}, d.host), el("td", { class: "num" }, String(d.pid)), el("td", {}, d.version),
    el("td", { class: "hide-narrow" }, when(d.started_at)), el("td", {}, when(d.heartbeat_at)),
    el("td", {}, Object.entries(d.queues || {}).map(([q, n]) => `${q} (${n})`).join(", ")),
    el("td", { class: "num" }, String(d.running ?? "—")),
    el("td", { class: "hide-narrow muted" }, (d.kinds || []).join(", "))));
  autoRefresh();
  return el("div", { "data-title": "Daemons" }, el("h1", {}, "Daemons"),
    table(["Name", "Status", "Host", { label: "Pid", num: true }, "Version", "Started", "Heartbeat", "Queues (slots)", { label: "Running", num: true }, "Kinds"],
      rows, { empty: "No daemon is running." }));
};

views.bookings = async function () {
  if (tokenClaims().role !== "admin") {
    // Asked anyway, the API would answer 403: say so without the request.
    return el("div", { "data-title": "Bookings" }, el("h1", {}, "Bookings"),
      el("p", { class: "empty" }, "Bookings at a glance are for admins: sign in with an admin link (evently-jobs console --role admin)."));
  }
  let utilisation, waitlists;
  try {
    [utilisation, waitlists] = await Promise.all([api("GET", "/v1/analytics/utilisation?limit=50"), api("GET", "/v1/analytics/waitlists?limit=50")]);
  } catch (error) {
    if (error.status === 403) return el("div", { "data-title": "Bookings" }, el("h1", {}, "Bookings"), el("p", { class: "empty" }, "Bookings at a glance are for admins."));
    throw error;
  }
  const waiting = new Map(waitlists.json.map(w => [w.event_id, w]));
  const rows = utilisation.json.map(e => el("tr", {},
    el("td", {}, e.name), el("td", {}, when(e.starts_at)), el("td", {}, e.status),
    el("td", { class: "num" }, `${e.booked_seats} / ${e.capacity}`),
    el("td", { class: "num" }, String(e.available_seats)),
    el("td", { class: "num" }, String((waiting.get(e.event_id) || {}).waiting || 0))));
  return el("div", { "data-title": "Bookings" }, el("h1", {}, "Events by seats sold"),
    table(["Event", "Starts", "Status", { label: "Sold", num: true }, { label: "Left", num: true }, { label: "Waitlist", num: true }], rows,
      { empty: "No events yet." }));
};

// ---------------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  takeTokenFromFragment();
  document.getElementById("token-form").addEventListener("submit", event => {
    event.preventDefault();
    const value = document.getElementById("token-input").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    document.getElementById("token-input").value = "";
    go("overview");
    route();
  });
  document.getElementById("sign-out").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", () => { takeTokenFromFragment(); route(); });
  route();
});
