// The customer's chat page: start (or resume after a reload), place in
// line, messages both ways in order, the survey at the end.
import { languageSwitch, t, translate } from "./i18n.js";
import { Socket, api, clock, el } from "./net.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const KEY = "acd.chat.resume";
const state = { sock: null, seqs: new Set(), ended: false, agent: null, status: "" };

translate();
languageSwitch($("lang"), () => setStatus(state.status, state.statusVars));

(async () => {
  const config = await api("GET", "/v1/chat/config").catch(() => ({ queues: [] }));
  const select = $("start").elements.queue;
  const wanted = params.get("queue");
  const queues = wanted && config.queues.includes(wanted) ? [wanted] : config.queues;
  select.replaceChildren(...queues.map((q) => el("option", { value: q }, q)));
  $("queue-box").hidden = queues.length < 2;
  if (sessionStorage.getItem(KEY)) connect(null);
})();

$("start").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const identity = {};
  if (f.get("name")) identity.name = f.get("name");
  if (f.get("email")) identity.email = f.get("email");
  // A site that knows its visitor passes a signed identity token in the
  // fragment (never sent to any server but through the socket): verified.
  const token = new URLSearchParams(location.hash.slice(1)).get("identity_token");
  connect({ queue: f.get("queue"), text: f.get("text"), identity, ...(token ? { identity_token: token } : {}) });
});

$("composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const box = e.target.elements.text;
  const text = box.value.trim();
  if (!text) return;
  box.value = "";
  try {
    const ack = await state.sock.request("message", { text });
    add({ seq: ack.seq, from: "customer", text, at: Date.now() / 1000 });
  } catch (err) {
    box.value = text;
    setStatus("error", { message: err.message });
  }
});
$("composer").elements.text.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    $("composer").requestSubmit();
  }
});

$("leave").addEventListener("click", async () => {
  await state.sock?.request("end").catch(() => {});
  finish();
});

/** Start a chat (`start`: the form's fields) or resume the one this tab had. */
function connect(start) {
  let first = start;
  state.sock = new Socket("/v1/chat/ws", {
    onOpen: async (sock) => {
      const token = sessionStorage.getItem(KEY);
      if (token && !first) {
        try {
          const ack = await sock.request("resume", { token });
          show();
          for (const m of ack.transcript) add(m);
          if (ack.agent) setStatus("cust.joined", { name: ack.agent });
          else setStatus("cust.queued");
          if (ack.ended) ended();
          return;
        } catch {
          sessionStorage.removeItem(KEY);
          if (!first) {
            sock.stop();
            return;
          }
        }
      }
      if (first) {
        const { queue, text, identity, identity_token } = first;
        first = null;
        try {
          const ack = await sock.request("start", { queue, text, identity, ...(identity_token ? { identity_token } : {}) });
          sessionStorage.setItem(KEY, ack.resume_token);
          show();
          add({ seq: 1, from: "customer", text, at: Date.now() / 1000 });
          setStatus("cust.queued");
        } catch (err) {
          $("start-error").textContent = err.message;
          sock.stop();
        }
      }
    },
    onFrame: frame,
    onStatus: (online) => {
      if (!online && !state.ended) setStatus("net.offline");
    },
  });
}

function show() {
  $("start").hidden = true;
  $("talk").hidden = false;
}

function frame(f) {
  switch (f.type) {
    case "queued":
      setStatus("cust.queued");
      break;
    case "position": {
      const wait = f.estimated_wait_s ? ` (${t("cust.wait", { minutes: Math.max(1, Math.round(f.estimated_wait_s / 60)) })})` : "";
      setStatus("cust.position", { position: f.position }, wait);
      break;
    }
    case "agent-joined":
      state.agent = f.agent.name;
      setStatus("cust.joined", { name: f.agent.name });
      break;
    case "message":
      add(f);
      break;
    case "ended":
      ended();
      break;
    case "survey":
      survey(f);
      break;
    case "handed-off":
      setStatus("cust.ended");
      break;
  }
}

function add(m) {
  if (m.seq && state.seqs.has(m.seq)) return;
  if (m.seq) state.seqs.add(m.seq);
  const who = m.from === "agent" ? m.agent || t("from.agent") : t(`from.${m.from}`);
  $("transcript").append(el("li", { class: `msg from-${m.from}` }, el("span", { class: "who" }, `${who} ${clock(m.at)}`), el("p", {}, m.text)));
  $("transcript").lastElementChild.scrollIntoView({ block: "end" });
}

function setStatus(key, vars = {}, suffix = "") {
  state.status = key;
  state.statusVars = vars;
  $("status").textContent = key ? t(key, vars) + suffix : "";
}

function ended() {
  state.ended = true;
  setStatus("cust.ended");
  $("composer").hidden = true;
  $("leave").hidden = true;
}

function survey() {
  const box = $("survey");
  box.hidden = false;
  box.querySelector(".scores").replaceChildren(
    ...[1, 2, 3, 4, 5].map((n) =>
      el(
        "button",
        {
          type: "button",
          "aria-label": `${n}/5`,
          onclick: async () => {
            await state.sock.request("survey", { answer: n }).catch(() => {});
            box.replaceChildren(el("p", {}, t("cust.thanks")));
            finish();
          },
        },
        String(n),
      ),
    ),
  );
}

function finish() {
  sessionStorage.removeItem(KEY);
  ended();
}
