// REST with the session's CSRF token, and a WebSocket that reconnects by
// itself and answers each request with a promise (docs/protocol.md).

let csrf = "";

/** JSON over fetch; a change carries X-CSRF-Token. Throws {code, message} on an error answer. */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(data.error?.message || r.statusText), { code: data.error?.code, status: r.status, problems: data.error?.problems || data.problems });
  return data;
}

/** Log in (POST /v1/session); keeps the CSRF token for later changes. */
export async function login(role, user, password) {
  const s = await api("POST", "/v1/session", { role, user, password });
  csrf = s.csrf;
  return s;
}

/** The session the cookie holds, or null (after a reload of the page). */
export async function currentSession() {
  try {
    const s = await api("GET", "/v1/session");
    csrf = s.csrf;
    return s;
  } catch {
    return null;
  }
}

export async function logout() {
  await api("DELETE", "/v1/session").catch(() => {});
  csrf = "";
}

/**
 * A WebSocket to `path` on this origin that reconnects (1 s, doubling to 15 s)
 * until closed by `stop()`. `onOpen(sock)` runs on every (re)connection,
 * `onFrame(frame)` for every server frame that is not an answer, and
 * `onStatus(online)` when the link goes up or down.
 */
export class Socket {
  constructor(path, { onOpen = async () => {}, onFrame = () => {}, onStatus = () => {} } = {}) {
    this.url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
    this.onOpen = onOpen;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.pending = new Map();
    this.nextId = 1;
    this.delay = 1000;
    this.stopped = false;
    this.ws = null;
    this.connect();
  }

  connect() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("message", (m) => this.receive(JSON.parse(m.data)));
    ws.addEventListener("open", async () => {
      this.delay = 1000;
      try {
        await this.onOpen(this);
        this.onStatus(true);
      } catch (e) {
        this.onStatus(false, e);
      }
    });
    ws.addEventListener("close", (ev) => {
      for (const { reject } of this.pending.values()) reject(Object.assign(new Error("connection lost"), { code: "offline" }));
      this.pending.clear();
      if (this.stopped || ev.code === 4001) {
        this.onStatus(false, ev);
        return;
      }
      this.onStatus(false, ev);
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 15000);
    });
  }

  receive(frame) {
    if ((frame.type === "ack" || frame.type === "error") && this.pending.has(frame.id)) {
      const { resolve, reject } = this.pending.get(frame.id);
      this.pending.delete(frame.id);
      if (frame.type === "ack") resolve(frame);
      else reject(Object.assign(new Error(frame.error.message), { code: frame.error.code }));
      return;
    }
    this.onFrame(frame);
  }

  /** Send a request; resolves with its ack, rejects with its error. */
  request(type, fields = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(Object.assign(new Error("not connected"), { code: "offline" }));
        return;
      }
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ type, id, ...fields }));
    });
  }

  stop() {
    this.stopped = true;
    this.ws?.close();
  }
}

/** An element: el("li", {class: "x", onclick: f}, "text", child). Text is never parsed as HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Local time of a Unix timestamp, hours and minutes. */
export function clock(at) {
  return new Date(at * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
