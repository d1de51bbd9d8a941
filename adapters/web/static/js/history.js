// The supervisor's History tab: a day's interval report (GET
// /v1/reports/queues), as a chart of offered and answered contacts per
// interval, a table, and the same as a CSV download.
import { duration, t } from "./i18n.js";
import { api, el } from "./net.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

/** The report's query for the form's day (local midnight to midnight, the centre's time). */
function query() {
  const day = $("h-date").value;
  const next = new Date(`${day}T00:00:00Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  const to = next.toISOString().slice(0, 10);
  const q = new URLSearchParams({ from: `${day}T00:00`, to: `${to}T00:00`, interval: $("h-interval").value, by: $("h-by").value });
  return q;
}

function hhmm(unix) {
  return new Date(unix * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

const STEP = { "15m": 900, hour: 3600, day: 86400 };

/** Bars per interval of the whole range (an empty one stays empty): offered
 * (behind) and answered (in front), summed over the groups. */
function chart(report, step) {
  const svg = $("h-chart");
  const by = new Map();
  for (let at = report.from; at < report.to; at += step) by.set(at, { offered: 0, answered: 0 });
  for (const r of report.queues) {
    const b = by.get(r.from) || { offered: 0, answered: 0 };
    b.offered += r.offered;
    b.answered += r.answered;
    by.set(r.from, b);
  }
  const keys = [...by.keys()].sort((a, b) => a - b);
  const top = Math.max(1, ...[...by.values()].map((b) => b.offered));
  const w = 600 / Math.max(1, keys.length);
  const bars = [];
  keys.forEach((k, i) => {
    const b = by.get(k);
    for (const [value, cls] of [[b.offered, "offered"], [b.answered, "answered"]]) {
      if (!value) continue; // an empty interval keeps its place, with nothing drawn
      const h = (110 * value) / top;
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("x", (i * w + 1).toFixed(1));
      rect.setAttribute("width", Math.max(1, w - 2).toFixed(1));
      rect.setAttribute("y", (115 - h).toFixed(1));
      rect.setAttribute("height", h.toFixed(1));
      rect.setAttribute("class", cls);
      bars.push(rect);
    }
  });
  svg.replaceChildren(...bars);
  const offered = [...by.values()].reduce((n, b) => n + b.offered, 0);
  const answered = [...by.values()].reduce((n, b) => n + b.answered, 0);
  svg.setAttribute("aria-label", t("hist.chart", { offered, answered }));
}

function table(rows) {
  const body = $("h-table").tBodies[0];
  body.replaceChildren(
    ...rows.map((r) =>
      el(
        "tr",
        {},
        el("td", {}, hhmm(r.from)),
        el("th", { scope: "row" }, r.queue ?? "–"),
        el("td", {}, r.channel ?? "–"),
        el("td", {}, String(r.offered)),
        el("td", {}, String(r.answered)),
        el("td", {}, r.service_level_pct === null ? "–" : `${r.service_level_pct.toFixed(1)}%`),
        el("td", {}, String(r.abandoned + r.short_abandoned)),
        el("td", {}, r.asa_s === null ? "–" : duration(r.asa_s)),
        el("td", {}, r.aht_s === null ? "–" : duration(r.aht_s)),
      ),
    ),
  );
}

async function show() {
  const q = query();
  $("h-csv").href = `/v1/reports/queues?${q}&format=csv`;
  $("h-status").textContent = t("hist.loading");
  try {
    const report = await api("GET", `/v1/reports/queues?${q}`);
    chart(report, STEP[$("h-interval").value]);
    table(report.queues);
    $("h-status").textContent = report.queues.length ? "" : t("hist.empty");
  } catch (err) {
    $("h-status").textContent = err.message;
  }
}

/** The two tabs (arrow keys move between them, as the ARIA pattern says). */
export function setupHistory() {
  const tabs = [$("tab-live"), $("tab-history")];
  const select = (tab) => {
    for (const x of tabs) {
      const on = x === tab;
      x.setAttribute("aria-selected", String(on));
      x.tabIndex = on ? 0 : -1;
      $(x.getAttribute("aria-controls")).hidden = !on;
    }
    tab.focus();
    if (tab.id === "tab-history" && !$("h-table").tBodies[0].rows.length) show();
  };
  for (const tab of tabs) {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (e) => {
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") select(tabs[(tabs.indexOf(tab) + 1) % tabs.length]);
    });
  }
  const today = new Date();
  $("h-date").value = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, "0")}-${String(today.getDate()).padStart(2, "0")}`;
  $("h-form").addEventListener("submit", (e) => {
    e.preventDefault();
    show();
  });
}
