// The wallboard: queues and agents live, the last hour's waiting per
// queue, why a contact waits, and the supervisor's actions.
import { duration, languageSwitch, t, translate } from "./i18n.js";
import { setupHistory } from "./history.js";
import { Socket, api, clock, currentSession, el, login, logout } from "./net.js";

const $ = (id) => document.getElementById(id);
const HOUR = 3600;
const SL_TARGET = 80; // % below which the service level cell turns red, when a queue gives none
const state = {
  session: null,
  queues: new Map(), // name -> stats
  history: new Map(), // name -> [[t, waiting], ...] (last hour)
  agents: new Map(), // id -> stats, plus since
  since: new Map(), // agent id -> when its presence last changed (ms)
  sock: null,
  events: [],
  open: [],
  dirty: false,
  paints: 0,
};

translate();
setupHistory();
languageSwitch($("lang"), () => {
  for (const cache of Object.values(rows)) cache.clear();
  for (const id of ["queues", "agents", "open"]) $(id).tBodies[0].replaceChildren();
  draw(true);
});
if (new URLSearchParams(location.search).has("wall")) document.body.classList.add("wall");

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  $("login-error").textContent = "";
  try {
    start(await login("supervisor", form.get("user"), form.get("password")));
  } catch (err) {
    $("login-error").textContent = t("login.failed", { message: err.message });
  }
});
$("logout").addEventListener("click", async () => {
  state.sock?.stop();
  await logout();
  location.reload();
});
$("wall").addEventListener("click", () => document.body.classList.toggle("wall"));
$("reload").addEventListener("click", async () => {
  try {
    await api("POST", "/v1/admin/reload");
    notice(t("sup.reloaded"));
  } catch (err) {
    const problems = err.problems || [];
    notice(`${err.message} ${problems.join("; ")}`, true);
  }
});
$("lookup").addEventListener("submit", async (e) => {
  e.preventDefault();
  await explain(new FormData(e.target).get("contact"));
});

(async () => {
  const s = await currentSession();
  if (s && s.role !== "agent") start(s);
})();

function start(session) {
  state.session = session;
  $("login").hidden = true;
  $("board").hidden = false;
  $("logout").hidden = false;
  $("wall").hidden = false;
  $("reload").hidden = session.role !== "admin";
  $("who").textContent = session.user;
  state.sock = new Socket("/v1/supervisor/ws", {
    onOpen: async () => {
      await refreshAgents();
    },
    onFrame: frame,
    onStatus: (online) => {
      $("net").textContent = online ? t("net.online") : t("net.offline");
      $("net").className = online ? "net ok" : "net down";
    },
  });
  setInterval(refreshAgents, 2000);
  setInterval(() => draw(false), 1000);
}

function frame(f) {
  if (f.type === "stats") {
    const now = Date.now() / 1000;
    for (const q of f.queues) {
      state.queues.set(q.name, q);
      const h = state.history.get(q.name) || [];
      h.push([now, q.waiting, q.service_level_pct]);
      while (h.length && h[0][0] < now - HOUR) h.shift();
      state.history.set(q.name, h);
    }
    state.dirty = true;
  } else if (f.type === "event") {
    const e = f.event;
    if (e.type === "AgentPresenceChanged") {
      const a = state.agents.get(e.agent_id);
      if (a) Object.assign(a, { presence: e.presence, reason: e.reason });
      state.since.set(e.agent_id, e.at * 1000);
    }
    state.events.unshift(e);
    state.events.length = Math.min(state.events.length, 50);
    state.dirty = true;
  }
}

async function refreshAgents() {
  const [data, open] = await Promise.all([
    api("GET", "/v1/agents").catch(() => null),
    api("GET", "/v1/contacts?limit=50").catch(() => null),
  ]);
  if (open) state.open = open.contacts;
  if (!data) return;
  for (const a of data.agents) {
    if (!state.since.has(a.id)) state.since.set(a.id, Date.now());
    state.agents.set(a.id, a);
  }
  state.dirty = true;
}

/** Repaint what changed since the last paint (all of it when `force`). */
function draw(force) {
  if (!state.dirty && !force) {
    drawTimes();
    return;
  }
  state.dirty = false;
  const t0 = performance.now();
  drawQueues();
  drawAgents();
  drawOpen();
  drawEvents();
  // User Timing: scripts/bench_ui.py reads what a repaint costs
  performance.measure("acd-paint", { start: t0, end: performance.now() });
  if (++state.paints % 600 === 0) performance.clearMeasures("acd-paint"); // a wall screen runs for days
}

function cell(value, cls) {
  return el("td", { class: cls }, value === null || value === undefined ? "–" : String(value));
}

/**
 * Keep `tbody`'s rows in the order of `items`, rebuilding a row only when
 * its signature (what it shows) changed: a 1,000-agent grid whose data did
 * not change costs a comparison per row, not 9,000 new elements.
 * O(rows) comparisons, O(changed rows) DOM work.
 */
function syncRows(tbody, cache, items, key, sig, build) {
  const seen = new Set();
  let prev = null;
  for (const item of items) {
    const k = key(item);
    seen.add(k);
    const s = sig(item);
    let entry = cache.get(k);
    if (!entry || entry.sig !== s) {
      const tr = build(item);
      if (entry) entry.tr.replaceWith(tr);
      entry = { tr, sig: s };
      cache.set(k, entry);
    }
    const want = prev ? prev.nextSibling : tbody.firstChild;
    if (entry.tr !== want) tbody.insertBefore(entry.tr, want);
    prev = entry.tr;
  }
  for (const [k, e] of cache) {
    if (!seen.has(k)) {
      e.tr.remove();
      cache.delete(k);
    }
  }
}

const rows = { queues: new Map(), agents: new Map(), open: new Map(), lines: new Map() };

/** Set a cell's text and class only when they differ (no needless style work). */
function setCell(td, value, cls = "") {
  const text = value === null || value === undefined ? "–" : String(value);
  if (td.textContent !== text) td.textContent = text;
  if (td.className !== cls) td.className = cls;
}

function drawQueues() {
  const items = [...state.queues.values()];
  // Rows are built once per queue and updated cell by cell.
  syncRows($("queues").tBodies[0], rows.queues, items, (q) => q.name, () => "", (q) => {
    const spark = sparkline();
    rows.lines.set(q.name, [spark.children[0], spark.children[1]]);
    return el("tr", {}, el("th", { scope: "row" }, q.name), ...Array.from({ length: 10 }, () => el("td")), el("td", {}, spark));
  });
  for (const q of items) {
    const c = rows.queues.get(q.name).tr.cells;
    const sl = q.service_level_pct;
    const staff = q.agents || {};
    setCell(c[1], q.waiting, q.waiting > 0 && q.longest_wait_s > 60 ? "bad" : "");
    setCell(c[2], duration(q.longest_wait_s));
    setCell(c[3], sl === null ? null : `${sl.toFixed(1)}%`, sl !== null && sl < (q.target_pct ?? SL_TARGET) ? "bad" : "good");
    setCell(c[4], q.answered);
    setCell(c[5], q.abandoned);
    setCell(c[6], q.asa_s === null ? null : duration(q.asa_s));
    setCell(c[7], q.aht_s === null ? null : duration(q.aht_s));
    setCell(c[8], `${staff.available || 0} / ${(staff.busy || 0) + (staff.offered || 0)} / ${(staff.away || 0) + (staff["not-responding"] || 0)} / ${staff["wrap-up"] || 0}`);
    // Erlang C's agents for the service level now; red when fewer are staffed.
    const needed = q.forecast ? q.forecast.agents_needed : null;
    const staffed = (staff.available || 0) + (staff.busy || 0) + (staff.offered || 0) + (staff["wrap-up"] || 0);
    setCell(c[9], needed, needed !== null && staffed < needed ? "bad" : "");
    setCell(c[10], Object.entries(q.by_channel || {}).map(([ch, [o, a, x]]) => `${ch} ${o}/${a}/${x}`).join(" · ") || null);
  }
  const now = Date.now() / 1000;
  const x = (at) => (160 * (1 - (now - at) / HOUR)).toFixed(1);
  for (const [name, [waiting, level]] of rows.lines) {
    const points = state.history.get(name) || [];
    const top = Math.max(1, ...points.map((p) => p[1]));
    waiting.setAttribute("points", points.map(([at, v]) => `${x(at)},${(26 - (24 * v) / top).toFixed(1)}`).join(" "));
    const sl = points.filter((p) => p[2] !== null && p[2] !== undefined);
    level.setAttribute("points", sl.map(([at, , v]) => `${x(at)},${(26 - (24 * v) / 100).toFixed(1)}`).join(" "));
  }
}

/** An empty chart of the last hour; drawQueues moves its lines. */
function sparkline() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 160 28");
  svg.setAttribute("width", 160);
  svg.setAttribute("height", 28);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", t("sup.chart"));
  for (const cls of ["spark", "spark-sl"]) {  // waiting (scaled to its peak), service level (0-100 %)
    const line = document.createElementNS(svg.namespaceURI, "polyline");
    line.setAttribute("class", cls);
    svg.append(line);
  }
  return svg;
}

function drawAgents() {
  const items = [...state.agents.values()];
  syncRows($("agents").tBodies[0], rows.agents, items, (a) => a.id, () => "", (a) =>
    el(
      "tr",
      {},
      el("th", { scope: "row" }, a.name || a.id),
      el("td"),
      el("td"),
      el("td"),
      el("td"),
      el("td"),
      el(
        "td",
        {},
        el("button", { type: "button", onclick: () => agentAction(a.id, "away") }, t("sup.away")),
        el("button", { type: "button", onclick: () => agentAction(a.id, "logout") }, t("sup.logout")),
      ),
    ),
  );
  for (const a of items) {
    const tr = rows.agents.get(a.id).tr;
    const cls = `p-${a.presence}`;
    if (tr.className !== cls) tr.className = cls;
    const c = tr.cells;
    setCell(c[1], t(`presence.${a.presence}`));
    setCell(c[2], a.reason);
    setCell(c[4], Object.entries(a.load || {}).map(([ch, n]) => `${ch} ${n}`).join(", ") || "0");
    setCell(c[5], a.occupancy_pct === null ? null : `${Math.round(a.occupancy_pct)}%`);
  }
  drawTimes();
}

function drawOpen() {
  syncRows(
    $("open").tBodies[0],
    rows.open,
    state.open || [],
    (c) => c.id,
    (c) => JSON.stringify([c.queue, c.channel, c.state, Math.floor(c.waited_s), c.agent]),
    (c) =>
      el(
        "tr",
        { class: c.state === "queued" ? "waiting" : "" },
        el("th", { scope: "row" }, el("button", { type: "button", class: "link", onclick: () => explain(c.id) }, c.id)),
        cell(c.queue),
        cell(c.channel),
        cell(t(`state.${c.state}`)),
        cell(duration(c.waited_s), c.state === "queued" && c.waited_s > 60 ? "bad" : ""),
        cell(c.agent),
      ),
  );
}

function drawTimes() {
  const now = Date.now();
  for (const [id, { tr }] of rows.agents) setCell(tr.cells[3], duration((now - (state.since.get(id) || now)) / 1000));
}

function drawEvents() {
  $("events").replaceChildren(
    ...state.events.slice(0, 20).map((e) =>
      el("li", {}, `${clock(e.at)} ${e.type} ${e.contact_id || ""} ${e.agent_id || ""} ${e.queue || ""}`),
    ),
  );
}

async function agentAction(id, what) {
  try {
    await api("POST", `/v1/agents/${encodeURIComponent(id)}/${what}`, what === "away" ? { reason: "supervisor" } : {});
    await refreshAgents();
  } catch (err) {
    notice(err.message, true);
  }
}

async function explain(id) {
  try {
    const why = await api("GET", `/v1/contacts/${encodeURIComponent(id)}`);
    const move = el("select", { "aria-label": t("sup.move") }, ...[...state.queues.keys()].map((q) => el("option", { value: q }, q)));
    $("why").replaceChildren(
      el("p", {}, why.message),
      el("p", { class: "muted" }, `${why.state} · ${why.queue} · ${duration(why.waited_s)} · #${why.position ?? "–"}`),
      el(
        "div",
        { class: "actions" },
        move,
        el("button", { type: "button", onclick: () => contactAction(id, "move", { queue: move.value }) }, t("sup.move")),
        el("button", { type: "button", onclick: () => contactAction(id, "end", {}) }, t("sup.end")),
      ),
    );
  } catch (err) {
    $("why").replaceChildren(el("p", { class: "error" }, err.message));
  }
}

async function contactAction(id, what, body) {
  try {
    await api("POST", `/v1/contacts/${encodeURIComponent(id)}/${what}`, body);
    await explain(id);
  } catch (err) {
    notice(err.message, true);
  }
}

function notice(text, bad = false) {
  $("notice").textContent = text;
  $("notice").className = bad ? "error" : "ok";
}
