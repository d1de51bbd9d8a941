// English and Simplified Chinese for every page. The browser's language
// picks one; the switch in the header overrides it (kept in localStorage).

const TEXT = {
  en: {
    "app.title": "Contact centre",
    "app.agent": "Agent desktop",
    "app.supervisor": "Supervisor wallboard",
    "app.chat": "Chat with us",
    "app.landing": "Pick your workspace",
    "lang.switch": "中文",
    "login.user": "Agent ID",
    "login.supervisor": "Supervisor",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.failed": "Login failed: {message}",
    "logout": "Log out",
    "presence.label": "Status",
    "presence.available": "Available",
    "presence.away": "Away",
    "presence.logged-out": "Logged out",
    "presence.not-responding": "Not responding",
    "presence.offered": "Ringing",
    "presence.busy": "Busy",
    "presence.wrap-up": "Wrap-up",
    "presence.since": "for {time}",
    "reason.break": "Break",
    "reason.lunch": "Lunch",
    "reason.training": "Training",
    "reason.meeting": "Meeting",
    "reason.disconnected": "Disconnected",
    "offer.title": "New {channel} in {queue}",
    "offer.accept": "Accept",
    "offer.reject": "Reject",
    "offer.expires": "{seconds}s left",
    "offer.why": "Why me: {strategy}, {score}",
    "offer.phone": "Answer on your phone",
    "capacity": "{used} open",
    "tabs.none": "No conversations. Offers appear here.",
    "chat.send": "Send",
    "chat.placeholder": "Type a reply (Enter sends, Shift+Enter for a new line)",
    "chat.canned": "Canned reply",
    "chat.note": "Internal note",
    "chat.end": "End",
    "chat.wrapup": "Wrap-up done",
    "chat.wrapup.left": "Wrap-up: {seconds}s left",
    "chat.disposition": "Disposition",
    "chat.transfer": "Transfer to queue",
    "chat.transfer.go": "Transfer",
    "chat.transfer.agent": "Transfer to agent",
    "call.title": "Call with {caller}",
    "call.phone": "On your phone: end or transfer it from here",
    "chat.ended": "The conversation ended",
    "chat.survey": "Survey answer: {score}/5",
    "pop.customer": "Customer",
    "pop.verified": "verified",
    "pop.claimed": "claimed, not verified",
    "pop.history": "History",
    "pop.nohistory": "No earlier contacts",
    "pop.context": "Context",
    "pop.notes": "Notes",
    "from.customer": "Customer",
    "from.agent": "Agent",
    "from.system": "System",
    "net.offline": "Connection lost: reconnecting…",
    "net.online": "Connected",
    "keys": "Keys: Alt+A accept, Alt+R reject, Alt+N next conversation, Alt+E end",
    "sup.queues": "Queues",
    "sup.agents": "Agents",
    "sup.queue": "Queue",
    "sup.waiting": "Waiting",
    "sup.longest": "Longest wait",
    "sup.sl": "Service level",
    "sup.answered": "Answered",
    "sup.abandoned": "Abandoned",
    "sup.asa": "ASA",
    "sup.aht": "AHT",
    "sup.staff": "Avail / busy / away / wrap",
    "sup.agent": "Agent",
    "sup.state": "State",
    "sup.reason": "Reason",
    "sup.time": "Time in state",
    "sup.contacts": "Open contacts",
    "sup.occupancy": "Occupancy",
    "sup.actions": "Actions",
    "sup.away": "Force away",
    "sup.logout": "Log out",
    "sup.chart": "Last hour: waiting (solid), service level (dashed)",
    "sup.explain": "Why is it waiting?",
    "sup.contact": "Contact ID",
    "sup.lookup": "Look up",
    "sup.move": "Move to queue",
    "sup.end": "Force end",
    "sup.reload": "Reload configuration",
    "sup.reloaded": "Configuration reloaded",
    "sup.wall": "Wall screen",
    "sup.events": "Live events",
    "sup.open": "Open contacts (longest waiting first)",
    "sup.channel": "Channel",
    "sup.waited": "Waited",
    "state.queued": "Waiting",
    "state.offered": "Ringing",
    "state.connected": "Connected",
    "state.ended": "Wrap-up",
    "cust.name": "Your name",
    "cust.email": "E-mail (optional)",
    "cust.first": "How can we help?",
    "cust.queue": "Topic",
    "cust.start": "Start chat",
    "cust.position": "You are number {position} in line",
    "cust.wait": "about {minutes} min",
    "cust.joined": "{name} joined the chat",
    "cust.ended": "The chat has ended. Thank you!",
    "cust.survey": "How satisfied are you? 1 (poor) to 5 (excellent)",
    "cust.thanks": "Thank you for your feedback.",
    "cust.leave": "Leave chat",
    "cust.queued": "Waiting for an agent…"
  },
  zh: {
    "app.title": "联络中心",
    "app.agent": "座席工作台",
    "app.supervisor": "班长监控墙",
    "app.chat": "在线咨询",
    "app.landing": "请选择工作区",
    "lang.switch": "English",
    "login.user": "座席工号",
    "login.supervisor": "班长账号",
    "login.password": "密码",
    "login.submit": "登录",
    "login.failed": "登录失败：{message}",
    "logout": "退出",
    "presence.label": "状态",
    "presence.available": "空闲",
    "presence.away": "离开",
    "presence.logged-out": "未登录",
    "presence.not-responding": "未响应",
    "presence.offered": "振铃中",
    "presence.busy": "忙碌",
    "presence.wrap-up": "话后处理",
    "presence.since": "已持续 {time}",
    "reason.break": "小休",
    "reason.lunch": "午餐",
    "reason.training": "培训",
    "reason.meeting": "会议",
    "reason.disconnected": "已断线",
    "offer.title": "{queue} 新的{channel}",
    "offer.accept": "接受",
    "offer.reject": "拒绝",
    "offer.expires": "剩余 {seconds} 秒",
    "offer.why": "分配原因：{strategy}，{score}",
    "offer.phone": "请在话机上接听",
    "capacity": "进行中 {used}",
    "tabs.none": "暂无会话，新的分配会显示在这里。",
    "chat.send": "发送",
    "chat.placeholder": "输入回复（回车发送，Shift+回车换行）",
    "chat.canned": "快捷回复",
    "chat.note": "内部备注",
    "chat.end": "结束",
    "chat.wrapup": "完成话后处理",
    "chat.wrapup.left": "话后处理：剩余 {seconds} 秒",
    "chat.disposition": "处理结果",
    "chat.transfer": "转至队列",
    "chat.transfer.go": "转接",
    "chat.transfer.agent": "转给座席",
    "call.title": "与 {caller} 通话中",
    "call.phone": "请使用话机通话，可在此结束或转接",
    "chat.ended": "会话已结束",
    "chat.survey": "满意度评价：{score}/5",
    "pop.customer": "客户",
    "pop.verified": "已验证",
    "pop.claimed": "自称，未验证",
    "pop.history": "历史记录",
    "pop.nohistory": "没有以往联系记录",
    "pop.context": "来源信息",
    "pop.notes": "备注",
    "from.customer": "客户",
    "from.agent": "座席",
    "from.system": "系统",
    "net.offline": "连接中断，正在重连…",
    "net.online": "已连接",
    "keys": "快捷键：Alt+A 接受，Alt+R 拒绝，Alt+N 下一个会话，Alt+E 结束",
    "sup.queues": "队列",
    "sup.agents": "座席",
    "sup.queue": "队列",
    "sup.waiting": "排队数",
    "sup.longest": "最长等待",
    "sup.sl": "服务水平",
    "sup.answered": "接通",
    "sup.abandoned": "放弃",
    "sup.asa": "平均应答",
    "sup.aht": "平均处理",
    "sup.staff": "空闲 / 忙碌 / 离开 / 话后",
    "sup.agent": "座席",
    "sup.state": "状态",
    "sup.reason": "原因",
    "sup.time": "状态时长",
    "sup.contacts": "进行中",
    "sup.occupancy": "占用率",
    "sup.actions": "操作",
    "sup.away": "强制离开",
    "sup.logout": "强制退出",
    "sup.chart": "近一小时：排队数（实线）、服务水平（虚线）",
    "sup.explain": "为什么还在排队？",
    "sup.contact": "联系编号",
    "sup.lookup": "查询",
    "sup.move": "移至队列",
    "sup.end": "强制结束",
    "sup.reload": "重新加载配置",
    "sup.reloaded": "配置已重新加载",
    "sup.wall": "大屏模式",
    "sup.events": "实时事件",
    "sup.open": "进行中的联系（等待最久的在前）",
    "sup.channel": "渠道",
    "sup.waited": "已等待",
    "state.queued": "排队中",
    "state.offered": "振铃中",
    "state.connected": "通话中",
    "state.ended": "话后处理",
    "cust.name": "您的称呼",
    "cust.email": "电子邮箱（选填）",
    "cust.first": "请问有什么可以帮您？",
    "cust.queue": "咨询类型",
    "cust.start": "开始咨询",
    "cust.position": "您前面还有 {position} 位",
    "cust.wait": "约 {minutes} 分钟",
    "cust.joined": "{name} 已加入会话",
    "cust.ended": "会话已结束，感谢您的咨询！",
    "cust.survey": "您对本次服务满意吗？1（差）到 5（非常满意）",
    "cust.thanks": "感谢您的评价。",
    "cust.leave": "离开会话",
    "cust.queued": "正在为您转接客服…"
  }
};

export function pickLanguage() {
  const saved = localStorage.getItem("acd.lang");
  if (saved === "en" || saved === "zh") return saved;
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

let lang = pickLanguage();

export function language() {
  return lang;
}

/** The text for `key` in the current language, with {name} filled from `vars`. */
export function t(key, vars = {}) {
  const text = TEXT[lang][key] ?? TEXT.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** Fill every [data-i18n] element (its text) and [data-i18n-placeholder] (its placeholder). */
export function translate(root = document) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
}

/** A button that switches between the two languages; `redraw` repaints what scripts wrote. */
export function languageSwitch(button, redraw = () => {}) {
  button.textContent = t("lang.switch");
  button.addEventListener("click", () => {
    lang = lang === "en" ? "zh" : "en";
    localStorage.setItem("acd.lang", lang);
    translate();
    button.textContent = t("lang.switch");
    redraw();
  });
}

/** "1:05" or "1:02:03" for a number of seconds. */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? `${h}:` : "") + `${mm}:${String(r).padStart(2, "0")}`;
}
