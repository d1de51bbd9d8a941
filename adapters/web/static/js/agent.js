// The agent desktop: log in, presence, offers, several conversations as
// tabs, the screen pop, wrap-up; reconnects by itself with every chat.
import { duration, languageSwitch, t, translate } from "./i18n.js";
import { Socket, clock, currentSession, el, login, logout } from "./net.js";

const $ = (id) => document.getElementById(id);
const state = {
  agent: null,
  presence: "logged-out",
  reason: null,
  since: Date.now(),
  desktop: { away_reasons: [], canned_replies: [], dispositions: {}, queues: [] },
  contacts: new Map(), // contact id -> {contact, state, queue, channel, customer, transcript, unread, ...}
  offers: new Map(), // contact id -> offer frame (+ deadline)
  consults: new Map(), // contact id -> {with: the other agent, messages, mine: we asked}
  current: null,
  sock: null,
};

translate();
languageSwitch($("lang"), redraw);

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  $("login-error").textContent = "";
  try {
    await login("agent", form.get("user"), form.get("password"));
    start();
  } catch (err) {
    $("login-error").textContent = t("login.failed", { message: err.message });
  }
});

$("logout").addEventListener("click", async () => {
  await state.sock?.request("logout").catch(() => {});
  state.sock?.stop();
  await logout();
  location.reload();
});

$("presence").addEventListener("change", async (e) => {
  const v = e.target.value;
  try {
    if (v === "available") await state.sock.request(state.presence === "logged-out" ? "login" : "available");
    else if (state.presence === "logged-out") await state.sock.request("login", { away_reason: v.slice(5) });
    else await state.sock.request("away", { reason: v.slice(5) });
  } catch (err) {
    alert(err.message);
    drawPresence();
  }
});

document.addEventListener("keydown", (e) => {
  if (!e.altKey || !state.sock) return;
  const first = [...state.offers.keys()][0];
  const key = e.key.toLowerCase();
  if (key === "a" && first) answer(first, "accept");
  else if (key === "r" && first) answer(first, "reject");
  else if (key === "n") nextTab();
  else if (key === "e" && state.current) act("end", state.current);
  else return;
  e.preventDefault();
});

(async () => {
  if (await currentSession()) start();
})();

function start() {
  $("login").hidden = true;
  $("desk").hidden = false;
  $("logout").hidden = false;
  $("presence-box").hidden = false;
  if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(() => {});
  state.sock = new Socket("/v1/agent/ws", {
    onOpen: async (sock) => {
      try {
        restore(await sock.request("auth", { cookie: true }));
      } catch (err) {
        if (err.code !== "unauthorized") throw err;
        sock.stop(); // the login expired (or was logged out elsewhere): log in again
        location.reload();
      }
    },
    onFrame: frame,
    onStatus: (online, why) => {
      $("net").textContent = online ? t("net.online") : t("net.offline");
      $("net").className = online ? "net ok" : "net down";
      if (!online && why?.code === 4001) $("net").textContent = "replaced";
    },
  });
  setInterval(tick, 1000);
}

/** The state the auth ack carries: drawn again after every reconnection. */
function restore(ack) {
  state.agent = ack.agent;
  state.desktop = ack.desktop || state.desktop;
  setPresence(ack.presence, ack.reason);
  $("who").textContent = ack.name || ack.agent;
  const seen = new Set();
  for (const c of ack.contacts) {
    seen.add(c.contact);
    const old = state.contacts.get(c.contact);
    if (c.state === "offered") {
      state.offers.set(c.contact, { ...c, deadline: Date.now() + 15000 });
      continue;
    }
    state.contacts.set(c.contact, {
      ...old,
      ...c,
      transcript: c.transcript || old?.transcript || [],
      unread: old?.unread || 0,
      connectedAt: old?.connectedAt || Date.now(),
    });
  }
  for (const id of [...state.contacts.keys()]) if (!seen.has(id)) state.contacts.delete(id);
  if (!state.contacts.has(state.current)) state.current = [...state.contacts.keys()][0] || null;
  redraw();
}

function frame(f) {
  switch (f.type) {
    case "presence":
      setPresence(f.presence, f.reason);
      break;
    case "offer": {
      const t0 = performance.now();
      state.offers.set(f.contact, { ...f, deadline: Date.now() + f.expires_in_s * 1000 });
      redraw();
      // User Timing: from the frame to the offer on screen (scripts/bench_ui.py)
      performance.measure("acd-offer", { start: t0, end: performance.now() });
      ring(f);
      return;
    }
    case "offer-ended":
      state.offers.delete(f.contact);
      break;
    case "connected": {
      const offer = state.offers.get(f.contact);
      state.offers.delete(f.contact);
      const c = { ...(offer || {}), contact: f.contact, state: "connected", queue: f.queue, transcript: offer?.transcript || [], unread: 0, connectedAt: Date.now() };
      state.contacts.set(f.contact, { ...state.contacts.get(f.contact), ...c });
      state.current = f.contact;
      break;
    }
    case "message": {
      const c = state.contacts.get(f.contact);
      if (!c) break;
      if (!c.transcript.some((m) => m.seq === f.seq)) c.transcript.push(f);
      if (state.current !== f.contact) c.unread += 1;
      break;
    }
    case "ended": {
      const c = state.contacts.get(f.contact);
      if (c) c.state = "ended";
      break;
    }
    case "wrap-up": {
      const c = state.contacts.get(f.contact);
      if (c) Object.assign(c, { state: "wrap-up", wrapUntil: Date.now() + f.seconds * 1000 });
      break;
    }
    case "wrap-up-ended":
    case "transferred":
      state.contacts.delete(f.contact);
      if (f.type === "transferred") state.consults.delete(f.contact);
      if (state.current === f.contact) state.current = [...state.contacts.keys()][0] || null;
      break;
    case "survey-answer": {
      const c = state.contacts.get(f.contact);
      if (c) c.survey = f.score;
      break;
    }
    case "consult":
      state.consults.set(f.contact, { with: f.from, mine: false, messages: f.text ? [{ from: f.from, text: f.text }] : [] });
      ring(f);
      break;
    case "consult-message": {
      const k = state.consults.get(f.contact);
      if (k) k.messages.push({ from: f.agent, text: f.text });
      break;
    }
    case "consult-ended":
      state.consults.delete(f.contact);
      break;
    case "bye":
      break;
    default:
      return;
  }
  redraw();
}

function setPresence(presence, reason) {
  if (presence !== state.presence || reason !== state.reason) state.since = Date.now();
  state.presence = presence;
  state.reason = reason;
  drawPresence();
}

function drawPresence() {
  const sel = $("presence");
  const options = [["available", t("presence.available")]];
  for (const r of state.desktop.away_reasons) options.push([`away:${r}`, `${t("presence.away")}: ${reasonText(r)}`]);
  const value = state.presence === "away" || state.presence === "logged-out" ? `away:${state.reason}` : "available";
  sel.replaceChildren(
    ...(state.presence === "logged-out" ? [el("option", { value: "", selected: true }, t("presence.logged-out"))] : []),
    ...options.map(([v, label]) => el("option", { value: v, selected: v === value && state.presence !== "logged-out" }, label)),
  );
  sel.setAttribute("aria-description", t(`presence.${state.presence}`));
  $("since").textContent = `${t(`presence.${state.presence}`)} ${t("presence.since", { time: duration((Date.now() - state.since) / 1000) })}`;
}

function reasonText(r) {
  const key = `reason.${r}`;
  const text = t(key);
  return text === key ? r : text;
}

function tick() {
  drawPresence();
  for (const [id, o] of state.offers) {
    const left = Math.max(0, Math.round((o.deadline - Date.now()) / 1000));
    const node = document.querySelector(`[data-expires="${CSS.escape(id)}"]`);
    if (node) node.textContent = t("offer.expires", { seconds: left });
  }
  for (const node of document.querySelectorAll("[data-calltimer]")) {
    const call = state.contacts.get(node.dataset.calltimer);
    if (call) node.textContent = duration((Date.now() - call.connectedAt) / 1000);
  }
  const c = state.contacts.get(state.current);
  if (c?.state === "wrap-up" && c.wrapUntil) {
    const node = document.querySelector("[data-wrap]");
    if (node) node.textContent = t("chat.wrapup.left", { seconds: Math.max(0, Math.round((c.wrapUntil - Date.now()) / 1000)) });
  }
}

function ring(offer) {
  try {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    osc.frequency.value = 880;
    osc.connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.25);
  } catch {}
  if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
    new Notification(t("offer.title", { channel: offer.channel, queue: offer.queue }));
  }
}

async function answer(id, how) {
  try {
    await state.sock.request(how, { contact: id });
    if (how === "reject") state.offers.delete(id);
  } catch (err) {
    alert(err.message);
  }
  redraw();
}

async function act(type, id, fields = {}) {
  try {
    await state.sock.request(type, { contact: id, ...fields });
  } catch (err) {
    alert(err.message);
  }
  redraw();
}

function nextTab() {
  const ids = [...state.contacts.keys()];
  if (!ids.length) return;
  state.current = ids[(ids.indexOf(state.current) + 1) % ids.length];
  redraw();
}

function redraw() {
  drawPresence();
  drawOffers();
  drawTabs();
  drawPanel();
  drawPop();
  const held = {};
  for (const c of state.contacts.values()) held[c.channel] = (held[c.channel] || 0) + 1;
  for (const o of state.offers.values()) held[o.channel] = (held[o.channel] || 0) + 1;
  const max = state.desktop.capacity || {};
  $("capacity").textContent = Object.entries(held)
    .map(([ch, n]) => t("capacity.of", { channel: ch, used: n, max: max[ch] ?? "?" }))
    .join(" · ");
}

function drawOffers() {
  $("offers").replaceChildren(
    ...[...state.consults.entries()].map(([id, k]) => consultCard(id, k)),
    ...[...state.offers.values()].map((o) =>
      el(
        "article",
        { class: "offer", "aria-label": t("offer.title", { channel: o.channel, queue: o.queue }) },
        el("h2", {}, t("offer.title", { channel: o.channel, queue: o.queue })),
        el("p", {}, customerName(o.customer)),
        o.decision ? el("p", { class: "muted" }, t("offer.why", { strategy: o.decision.strategy, score: o.decision.score })) : null,
        el("p", { dataset: { expires: o.contact } }, ""),
        o.channel === "voice"
          ? el("p", {}, t("offer.phone"))
          : el(
              "div",
              { class: "actions" },
              el("button", { type: "button", class: "primary", onclick: () => answer(o.contact, "accept") }, t("offer.accept")),
              el("button", { type: "button", onclick: () => answer(o.contact, "reject") }, t("offer.reject")),
            ),
      ),
    ),
  );
}

/** A private conversation between two agents about a contact (warm transfer). */
function consultCard(id, k) {
  const box = el("input", { "aria-label": t("consult.reply"), placeholder: t("consult.reply") });
  return el(
    "article",
    { class: "offer consult", "aria-label": t("consult.title", { agent: k.with }) },
    el("h2", {}, t("consult.title", { agent: k.with })),
    el("ol", { class: "facts" }, ...k.messages.map((m) => el("li", {}, `${m.from}: ${m.text}`))),
    el(
      "form",
      {
        class: "actions",
        onsubmit: async (e) => {
          e.preventDefault();
          const text = box.value.trim();
          if (!text) return;
          box.value = "";
          try {
            await state.sock.request("consult-message", { contact: id, text });
            k.messages.push({ from: state.agent, text });
          } catch (err) {
            alert(err.message);
          }
          redraw();
        },
      },
      box,
      el("button", { type: "submit" }, t("chat.send")),
      el(
        "button",
        {
          type: "button",
          onclick: async () => {
            await state.sock.request("consult-end", { contact: id }).catch(() => {});
            state.consults.delete(id);
            redraw();
          },
        },
        t("consult.end"),
      ),
    ),
  );
}

function customerName(cust) {
  if (!cust) return "";
  const id = cust.identity || {};
  const claimed = cust.claimed || {};
  return id.name || cust.profile?.name || claimed.name || id.email || id.phone || cust.key || "";
}

function drawTabs() {
  const ids = [...state.contacts.keys()];
  $("tabs").replaceChildren(
    ...ids.map((id) => {
      const c = state.contacts.get(id);
      const selected = id === state.current;
      return el(
        "button",
        {
          type: "button",
          role: "tab",
          "aria-selected": selected ? "true" : "false",
          class: selected ? "tab selected" : "tab",
          onclick: () => {
            state.current = id;
            c.unread = 0;
            redraw();
          },
        },
        `${customerName(c.customer) || id} · ${c.channel || ""}`,
        c.unread ? el("span", { class: "badge", "aria-label": "unread" }, String(c.unread)) : null,
      );
    }),
  );
}

function drawPanel() {
  const panel = $("panel");
  const c = state.contacts.get(state.current);
  if (!c) {
    panel.replaceChildren(el("p", { class: "muted" }, t("tabs.none")));
    return;
  }
  c.unread = 0;
  const log = el(
    "ol",
    { class: "transcript", role: "log", "aria-live": "polite" },
    ...c.transcript.map((m) =>
      el("li", { class: `msg from-${m.from}` }, el("span", { class: "who" }, `${t(`from.${m.from}`)} ${clock(m.at)}`), el("p", {}, m.text)),
    ),
  );
  const parts = [];
  if (c.channel === "voice") {
    parts.push(
      el(
        "div",
        { class: "call", role: "group", "aria-label": t("call.title", { caller: customerName(c.customer) }) },
        el("h2", {}, t("call.title", { caller: customerName(c.customer) || c.contact })),
        el("p", {}, `${c.queue} · `, el("span", { dataset: { calltimer: c.contact } }, duration((Date.now() - c.connectedAt) / 1000))),
        el("p", { class: "muted" }, t("call.phone")),
      ),
    );
  }
  parts.push(log);
  if (c.state === "connected" && c.channel !== "voice") {
    const text = el("textarea", { name: "text", rows: 2, required: true, maxlength: 16000, placeholder: t("chat.placeholder"), "aria-label": t("chat.send") });
    text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
    const form = el(
      "form",
      {
        class: "composer",
        onsubmit: async (e) => {
          e.preventDefault();
          const value = text.value.trim();
          if (!value) return;
          text.value = "";
          try {
            const ack = await state.sock.request("message", { contact: c.contact, text: value });
            if (!c.transcript.some((m) => m.seq === ack.seq)) c.transcript.push({ seq: ack.seq, from: "agent", text: value, at: Date.now() / 1000 });
          } catch (err) {
            text.value = value;
            alert(err.message);
          }
          redraw();
        },
      },
      text,
      el("button", { type: "submit", class: "primary" }, t("chat.send")),
    );
    parts.push(form);
    if (state.desktop.canned_replies.length) {
      parts.push(
        el(
          "select",
          {
            "aria-label": t("chat.canned"),
            onchange: (e) => {
              text.value = e.target.value;
              e.target.value = "";
              text.focus();
            },
          },
          el("option", { value: "" }, t("chat.canned")),
          ...state.desktop.canned_replies.map((r) => el("option", { value: r }, r)),
        ),
      );
    }
  }
  const codes = state.desktop.dispositions[c.queue] || [];
  const disposition = codes.length
    ? el("select", { "aria-label": t("chat.disposition") }, el("option", { value: "" }, t("chat.disposition")), ...codes.map((d) => el("option", { value: d }, d)))
    : null;
  // wrap-up notes: kept across redraws until sent with end / wrap-up done
  const notes = el("textarea", {
    rows: 2,
    maxlength: 4000,
    class: "notes",
    "aria-label": t("chat.notes"),
    placeholder: t("chat.notes"),
    oninput: (e) => (c.wrapNotes = e.target.value),
  });
  notes.value = c.wrapNotes || "";
  const wrapFields = () => ({
    ...(disposition?.value ? { disposition: disposition.value } : {}),
    ...(notes.value.trim() ? { notes: notes.value.trim() } : {}),
  });
  const actions = el("div", { class: "actions" });
  if (c.state === "connected") {
    // what the agent picked survives the panel's redraws (a message arriving)
    const queue = el(
      "select",
      { "aria-label": t("chat.transfer"), onchange: (e) => (state.transferQueue = e.target.value) },
      ...state.desktop.queues.map((q) => el("option", { value: q, selected: q === state.transferQueue }, q)),
    );
    const agentBox = el("input", {
      size: 10,
      "aria-label": t("chat.transfer.agent"),
      placeholder: t("chat.transfer.agent"),
      oninput: (e) => (state.transferTo = e.target.value),
    });
    agentBox.value = state.transferTo || "";
    actions.append(
      el("button", { type: "button", onclick: () => act("end", c.contact, wrapFields()) }, t("chat.end")),
      queue,
      el("button", { type: "button", onclick: () => act("transfer", c.contact, { queue: queue.value }) }, t("chat.transfer.go")),
      agentBox,
      el(
        "button",
        // to that agent, through the queue chosen beside (an agent takes it in a queue it serves)
        { type: "button", onclick: () => agentBox.value.trim() && act("transfer", c.contact, { queue: queue.value, agent: agentBox.value.trim() }) },
        t("chat.transfer.agent"),
      ),
      el(
        "button",
        {
          type: "button",
          onclick: async () => {
            const other = agentBox.value.trim();
            if (!other) return agentBox.focus();
            const text = prompt(t("consult.ask")) || "";
            try {
              await state.sock.request("consult", { contact: c.contact, agent: other, text });
              state.consults.set(c.contact, { with: other, mine: true, messages: text ? [{ from: state.agent, text }] : [] });
            } catch (err) {
              alert(err.message);
            }
            redraw();
          },
        },
        t("consult.start"),
      ),
      el(
        "button",
        {
          type: "button",
          onclick: async () => {
            const note = prompt(t("chat.note"));
            if (note) await act("note", c.contact, { text: note });
          },
        },
        t("chat.note"),
      ),
    );
  }
  if (c.state === "wrap-up" || c.state === "ended") {
    parts.push(el("p", { class: "status" }, t("chat.ended")));
    parts.push(el("p", { class: "muted", dataset: { wrap: "1" } }, ""));
    actions.append(el("button", { type: "button", class: "primary", onclick: () => act("wrap-up-done", c.contact, wrapFields()) }, t("chat.wrapup")));
  }
  if (c.state !== "offered") parts.push(notes);
  if (disposition) actions.prepend(disposition);
  if (c.survey) parts.push(el("p", {}, t("chat.survey", { score: c.survey })));
  parts.push(actions);
  panel.replaceChildren(...parts);
  log.scrollTop = log.scrollHeight;
}

function drawPop() {
  const c = state.contacts.get(state.current) || [...state.offers.values()][0];
  const pop = $("pop");
  if (!c) {
    pop.replaceChildren();
    return;
  }
  const cust = c.customer || {};
  const rows = [];
  for (const [k, v] of Object.entries(cust.identity || {})) rows.push(el("li", {}, `${k}: ${v} `, el("span", { class: "tag ok" }, t("pop.verified"))));
  for (const [k, v] of Object.entries(cust.claimed || {})) rows.push(el("li", {}, `${k}: ${v} `, el("span", { class: "tag warn" }, t("pop.claimed"))));
  for (const [k, v] of Object.entries(cust.profile || {})) rows.push(el("li", {}, `${k}: ${v}`));
  const history = c.history || [];
  const parts = [
    el("h2", {}, t("pop.customer")),
    el("ul", { class: "facts" }, ...rows),
    el("h3", {}, t("pop.history")),
    history.length
      ? el(
          "ol",
          { class: "timeline" },
          ...history.map((h) =>
            el("li", {}, `${new Date(h.at * 1000).toLocaleString()} · ${h.channel} · ${h.queue} · ${h.outcome} · ${(h.agents || []).join(", ")}${h.disposition ? ` · ${h.disposition}` : ""}${h.survey ? ` · ★${h.survey}` : ""}`),
          ),
        )
      : el("p", { class: "muted" }, t("pop.nohistory")),
    el("h3", {}, t("pop.context")),
    el("ul", { class: "facts" }, ...Object.entries(c.attributes || {}).map(([k, v]) => el("li", {}, `${k}: ${v}`))),
    (c.notes || []).length ? el("h3", {}, t("pop.notes")) : null,
    el("ul", { class: "facts" }, ...(c.notes || []).map((n) => el("li", {}, `${n.agent || ""}: ${n.text}`))),
  ];
  pop.replaceChildren(...parts.filter(Boolean));
}
