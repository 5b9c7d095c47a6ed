/*! E-Town work-permit assistant widget. One tag on any page:
 *  <script src="https://assistant.example/widget.js" data-lang="zh" defer></script>
 * Options (data-*): server (default: the script's origin), lang ("en"|"zh"), title, open ("true").
 * No framework, no build step, no third-party requests. Everything anyone typed is inserted as text; styles live in
 * a Shadow DOM (the host page's CSS cannot reach in, ours cannot leak out); no eval, no inline handlers.
 *
 * One file, two roles. On the host page it is only the loader: the launcher button and an iframe of the gateway's
 * /widget/frame. Inside that frame (data-role="panel") it draws the chat panel, so the conversation id (kept in the
 * gateway origin's localStorage), the transcript and the passport field live in another origin than the host page,
 * out of reach of any script there (an analytics tag, an XSS elsewhere on the site), as Chatwoot and Intercom do.
 * The two talk by postMessage, and only about opening, closing, the unread count and the language.
 */
(function () {
  "use strict";
  if (window.__etownWidget) return;
  window.__etownWidget = true;

  var script = document.currentScript || document.querySelector("script[src*='widget.js']");
  var data = (script && script.dataset) || {};
  var server = (data.server || (script ? new URL(script.src, location.href).origin : location.origin)).replace(/\/$/, "");
  var PANEL = data.role === "panel";
  if (PANEL) {
    // Inside the frame: the embed's options come in the frame's URL; the server is this origin.
    data = {};
    new URLSearchParams(location.search).forEach(function (value, name) { data[name] = value; });
    server = location.origin;
  }
  var KEY = "etown-widget:" + server;

  var T = {
    en: {
      title: "Work permit assistant", subtitle: "Beijing E-Town · Administrative Approval Bureau",
      open: "Open the work-permit assistant", close: "Close", send: "Send", placeholder: "Ask about the work permit…",
      person: "Talk to a person", langToggle: "中文", langLabel: "Switch to Chinese", connecting: "Connecting…",
      offline: "Connection lost — reconnecting. Your messages are kept and will be sent.", typingBot: "The assistant is typing…",
      typingStaff: "Staff is typing…", source: "Source", reviewed: "reviewed", helpful: "Was this helpful?", yes: "Yes", no: "No",
      thanks: "Thanks for the feedback.", print: "Print-friendly list", mistakes: "Often sent back when",
      verifyTitle: "Verify it is your application", verifyLabel: "Passport number used in the application",
      verifyHint: "Checked securely; it is never shown in the chat.", verifySend: "Check", show: "Show", hide: "Hide", more: "More", less: "Less",
      queue: "You are number {p} in the queue (about {m} min).", joined: "{name} is helping you.",
      offlineStaff: "Staff are out; they will reply from {t}.", unread: "{n} unread", case: "Application",
      since: "since", due: "promised by", onTime: "On time", late: "Past the promised date", estimated: "estimate",
      missing: "Materials requested", log: "Conversation", you: "You", bot: "Assistant", staff: "Staff",
      resent: "sending…", passportSent: "Passport number sent (hidden)",
      download: "Download my conversation", erase: "Delete my conversation",
      eraseConfirm: "Delete this whole conversation from the assistant? This cannot be undone.",
      timeline: "Your deadlines", ics: "Add to calendar (.ics)", passed: "passed"
    },
    zh: {
      title: "工作许可智能助手", subtitle: "北京经济技术开发区行政审批局",
      open: "打开工作许可智能助手", close: "关闭", send: "发送", placeholder: "请输入关于工作许可的问题…",
      person: "转人工", langToggle: "EN", langLabel: "切换为英文", connecting: "正在连接…",
      offline: "连接中断，正在重连。您的消息已保留，恢复后会自动发送。", typingBot: "助手正在输入…",
      typingStaff: "工作人员正在输入…", source: "出处", reviewed: "审核日期", helpful: "这个回答有帮助吗？", yes: "有", no: "没有",
      thanks: "感谢您的反馈。", print: "打印版清单", mistakes: "常见退件原因",
      verifyTitle: "验证是您本人的申请", verifyLabel: "申请时使用的护照号码",
      verifyHint: "安全核验，不会显示在对话中。", verifySend: "核验", show: "显示", hide: "隐藏", more: "详细说明", less: "收起",
      queue: "您目前排在第 {p} 位（约 {m} 分钟）。", joined: "工作人员 {name} 正在为您服务。",
      offlineStaff: "工作人员不在线，将于 {t} 起回复。", unread: "{n} 条未读", case: "申请",
      since: "自", due: "承诺日期", onTime: "在承诺时限内", late: "已超过承诺日期", estimated: "估算",
      missing: "需补正的材料", log: "对话记录", you: "您", bot: "助手", staff: "工作人员",
      resent: "发送中…", passportSent: "已提交护照号码（已隐藏）",
      download: "下载我的对话记录", erase: "删除我的对话记录",
      eraseConfirm: "确定从助手中删除整段对话吗？删除后无法恢复。",
      timeline: "您的期限", ics: "添加到日历（.ics）", passed: "已过"
    }
  };

  if (!PANEL) { loader(); return; }

  var saved = {};
  try { saved = JSON.parse(localStorage.getItem(KEY) || "{}"); } catch (e) { saved = {}; }
  var state = {
    conversation: saved.conversation || null,
    lang: saved.lang || (data.lang === "zh" ? "zh" : data.lang === "en" ? "en" : (navigator.language || "").indexOf("zh") === 0 ? "zh" : "en"),
    langChosen: !!saved.langChosen,
    pending: saved.pending || {},
    ticks: saved.ticks || {},
    lastSeq: 0, open: false, unread: 0, ws: null, retry: 500, seen: {}, lastBot: null
  };
  function t(key, vars) {
    var text = (T[state.lang] || T.en)[key] || T.en[key] || key;
    Object.keys(vars || {}).forEach(function (k) { text = text.split("{" + k + "}").join(String(vars[k])); });
    return text;
  }
  function save() {
    // Unacknowledged messages survive a reload; a passport number never touches storage.
    var keep = {};
    Object.keys(state.pending).forEach(function (id) {
      if (state.pending[id].frame.type !== "verify") keep[id] = state.pending[id];
    });
    try {
      localStorage.setItem(KEY, JSON.stringify({
        conversation: state.conversation, lang: state.lang, langChosen: state.langChosen, pending: keep, ticks: state.ticks
      }));
    } catch (e) { /* private mode: the conversation still works, it is just not restored */ }
  }
  function uid() { return Date.now().toString(36) + Math.random().toString(36).slice(2, 10); }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "class") node.className = attrs[k]; else node.setAttribute(k, attrs[k]);
    });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // ---- minimal safe markdown: **bold**, "- " bullets, numbered lines, http(s) links; always text nodes ----
  function inline(parent, text) {
    var pattern = /(\*\*[^*]+\*\*|https?:\/\/[^\s<>"')\]]+)/g;
    var last = 0, match;
    while ((match = pattern.exec(text)) !== null) {
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      var token = match[0];
      if (token.indexOf("**") === 0) {
        parent.appendChild(el("strong", {}, token.slice(2, -2)));
      } else {
        var link = el("a", { href: token, target: "_blank", rel: "noopener noreferrer" }, token);
        parent.appendChild(link);
      }
      last = match.index + token.length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }
  function markdown(text) {
    var box = el("div", { class: "md" });
    var list = null;
    String(text || "").split("\n").forEach(function (line) {
      var bullet = /^\s*[-•]\s+(.*)$/.exec(line);
      if (bullet) {
        if (!list) { list = el("ul"); box.appendChild(list); }
        var item = el("li"); inline(item, bullet[1]); list.appendChild(item);
        return;
      }
      list = null;
      if (!line.trim()) return;
      var footer = /^(Source|出处)\s*[:：]/.test(line) || /^https?:\/\/\S+$/.test(line.trim());
      var p = el("p", footer ? { class: "footer" } : {});
      inline(p, line);
      box.appendChild(p);
    });
    return box;
  }

  function chatIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24"); svg.setAttribute("width", "28"); svg.setAttribute("height", "28");
    svg.setAttribute("aria-hidden", "true"); svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6v2h2V9H7zm4 0v2h2V9h-2zm4 0v2h2V9h-2z");
    svg.appendChild(path);
    return svg;
  }

  // ---- the DOM, inside a shadow root ----
  var host = el("div", { id: "etown-work-permit-assistant" });
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  var css = [
    ":host{all:initial}",
    "*{box-sizing:border-box}",
    ".w{--accent:#0b5cad;--accent-ink:#fff;--bg:#fff;--ink:#15191e;--muted:#4d5662;--line:#d6dce3;--user:#e3eefb;font:15px/1.5 system-ui,-apple-system,'PingFang SC','Microsoft YaHei','WenQuanYi Micro Hei',sans-serif;color:var(--ink)}",
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:60px;height:60px;border-radius:50%;border:0;background:var(--accent);color:var(--accent-ink);cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;padding:0}",
    ".badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;border-radius:11px;background:#c62828;color:#fff;font-size:12px;line-height:22px;padding:0 6px}",
    ".panel{position:fixed;right:20px;bottom:92px;z-index:2147483001;width:380px;max-width:calc(100vw - 24px);height:600px;max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:var(--bg);border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);overflow:hidden}",
    ".panel[hidden]{display:none}",
    "header{background:var(--accent);color:var(--accent-ink);padding:10px 12px;display:flex;align-items:center;gap:6px}",
    "header .titles{flex:1;min-width:0}",
    "header h2{font-size:16px;margin:0;font-weight:600}",
    "header p{font-size:12px;margin:0;opacity:.9}",
    "header button{background:rgba(255,255,255,.15);color:var(--accent-ink);border:1px solid rgba(255,255,255,.5);border-radius:6px;padding:4px 8px;font:inherit;font-size:13px;cursor:pointer}",
    ".banner{background:#fff7d6;color:#3d3000;padding:6px 12px;font-size:13px;border-bottom:1px solid var(--line)}",
    ".banner[hidden]{display:none}",
    ".log{flex:1;overflow-y:auto;padding:12px;margin:0;background:#f6f8fa}",
    ".items{list-style:none;margin:0;padding:0}",
    ".msg{margin:6px 0;max-width:88%;padding:8px 11px;border-radius:10px;background:var(--bg);box-shadow:0 1px 1px rgba(0,0,0,.08);overflow-wrap:anywhere;word-break:break-word;unicode-bidi:plaintext}",
    ".msg.user{margin-left:auto;background:var(--user)}",
    ".msg.staff{border-left:3px solid var(--accent)}",
    ".msg.system{background:transparent;box-shadow:none;color:var(--muted);font-size:13px;text-align:center;max-width:100%}",
    ".who{display:block;font-size:12px;color:var(--muted);margin-bottom:2px}",
    ".state{font-size:11px;color:var(--muted);display:block;text-align:right}",
    ".md p{margin:0 0 6px}.md ul{margin:0 0 6px;padding-left:18px}.md .footer{font-size:12px;color:var(--muted);margin:6px 0 0}",
    ".md a{color:var(--accent)}",
    ".buttons{display:flex;flex-wrap:wrap;gap:6px;margin:6px 0 4px}",
    ".buttons button,.chip{border:1px solid var(--accent);background:#fff;color:var(--accent);border-radius:16px;padding:5px 11px;font:inherit;font-size:14px;cursor:pointer}",
    ".buttons button[disabled]{opacity:.6;cursor:default}",
    ".md .more{border:0;background:none;color:var(--accent);padding:0;font:inherit;font-size:13px;cursor:pointer;text-decoration:underline}",
    ".buttons button.chosen{background:var(--accent);color:var(--accent-ink)}",
    ".rate{font-size:12px;color:var(--muted);display:flex;gap:6px;align-items:center;margin-top:4px}",
    ".rate button{border:1px solid var(--line);background:#fff;border-radius:12px;font:inherit;font-size:12px;padding:2px 8px;cursor:pointer;color:var(--ink)}",
    ".card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px;margin:6px 0;max-width:92%}",
    ".card h3{font-size:15px;margin:0 0 6px}",
    ".card ol{margin:0;padding:0;list-style:none}",
    ".card li{margin:0 0 8px}",
    ".card label{display:flex;gap:8px;align-items:flex-start;cursor:pointer}",
    ".card .note{display:block;color:var(--muted);font-size:13px}",
    ".card .warn{display:block;color:#8a1c1c;font-size:13px}",
    ".steps{display:flex;gap:4px;margin:8px 0}.steps span{flex:1;height:6px;border-radius:3px;background:var(--line)}.steps span.done{background:var(--accent)}.steps span.now{background:#f5a623}",
    ".ok{color:#1b6b2f;font-weight:600}.late{color:#a12222;font-weight:600}",
    ".verify{border-top:1px solid var(--line);padding:10px 12px;background:#fbfcfd}",
    ".verify[hidden]{display:none}",
    ".verify label{display:block;font-size:13px;margin-bottom:4px}",
    ".verify .row{display:flex;gap:6px}",
    ".verify input{flex:1;min-width:0;font:inherit;padding:6px 8px;border:1px solid #8a96a3;border-radius:6px}",
    ".verify button{font:inherit;border-radius:6px;border:1px solid var(--accent);background:#fff;color:var(--accent);padding:6px 10px;cursor:pointer}",
    ".verify button.primary{background:var(--accent);color:var(--accent-ink)}",
    ".hint{font-size:12px;color:var(--muted);margin:4px 0 0}",
    ".typing{font-size:12px;color:var(--muted);padding:0 12px;min-height:18px}",
    ".own{display:flex;gap:12px;justify-content:center;padding:2px 12px 6px}.own .link{background:none;border:0;padding:0;font-size:11px;color:var(--muted);text-decoration:underline;cursor:pointer}",
    "form.composer{display:flex;gap:6px;padding:10px 12px;border-top:1px solid var(--line);background:#fff}",
    "form.composer textarea{flex:1;resize:none;font:inherit;padding:8px;border:1px solid #8a96a3;border-radius:8px;min-height:40px;max-height:120px}",
    "form.composer button{background:var(--accent);color:var(--accent-ink);border:0;border-radius:8px;padding:0 14px;font:inherit;cursor:pointer}",
    "button:focus-visible,textarea:focus-visible,input:focus-visible,a:focus-visible{outline:3px solid #f5a623;outline-offset:2px}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    "@media (max-width:600px){.panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}.launcher{right:14px;bottom:14px}}",
    // In the frame the panel is the whole frame; the loader's iframe has the panel's place, size and shadow.
    ".panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0;box-shadow:none}"
  ].join("\n");
  if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function" && CSSStyleSheet.prototype.replaceSync) {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.appendChild(el("style", {}, css));
  }

  var wrap = el("div", { class: "w" });
  var launcher = el("button", { class: "launcher", type: "button", "aria-haspopup": "dialog", "aria-expanded": "false" });
  var launcherIcon = chatIcon();
  var launcherLabel = el("span", { class: "sr" });
  var badge = el("span", { class: "badge", hidden: "" });
  launcher.appendChild(launcherIcon); launcher.appendChild(launcherLabel); launcher.appendChild(badge);
  var panel = el("section", { class: "panel", role: "dialog", "aria-modal": "false", hidden: "" });
  var header = el("header");
  var titles = el("div", { class: "titles" });
  var title = el("h2", { id: "etw-title" });
  var subtitle = el("p");
  titles.appendChild(title); titles.appendChild(subtitle);
  var langButton = el("button", { type: "button", class: "lang" });
  var personButton = el("button", { type: "button", class: "person" });
  var closeButton = el("button", { type: "button", class: "close" }, "✕");
  header.appendChild(titles); header.appendChild(langButton); header.appendChild(personButton); header.appendChild(closeButton);
  var banner = el("div", { class: "banner", role: "status", hidden: "" });
  // A live region (role=log) around a real list, so the messages keep list semantics.
  var logBox = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions" });
  var log = el("ol", { class: "items" });
  logBox.appendChild(log);
  var typing = el("div", { class: "typing", "aria-live": "polite" });
  var verify = el("form", { class: "verify", hidden: "", autocomplete: "off" });
  var verifyTitle = el("label", { for: "etw-passport" });
  var verifyRow = el("div", { class: "row" });
  var verifyInput = el("input", { id: "etw-passport", type: "password", inputmode: "text", autocomplete: "off", spellcheck: "false", maxlength: "40" });
  var verifyShow = el("button", { type: "button" });
  var verifySend = el("button", { type: "submit", class: "primary" });
  var verifyHint = el("p", { class: "hint" });
  verifyRow.appendChild(verifyInput); verifyRow.appendChild(verifyShow); verifyRow.appendChild(verifySend);
  verify.appendChild(verifyTitle); verify.appendChild(verifyRow); verify.appendChild(verifyHint);
  var composer = el("form", { class: "composer" });
  var inputLabel = el("label", { class: "sr", for: "etw-input" });
  var input = el("textarea", { id: "etw-input", rows: "1", maxlength: "2000" });
  var sendButton = el("button", { type: "submit" });
  composer.appendChild(inputLabel); composer.appendChild(input); composer.appendChild(sendButton);
  panel.appendChild(header); panel.appendChild(banner); panel.appendChild(logBox); panel.appendChild(typing);
  // The applicant's own data: download it (JSON) or delete it, authorised by the conversation's own token.
  var own = el("div", { class: "own" });
  var downloadButton = el("button", { type: "button", class: "link" });
  var eraseButton = el("button", { type: "button", class: "link" });
  own.appendChild(downloadButton); own.appendChild(eraseButton);
  panel.appendChild(verify); panel.appendChild(composer); panel.appendChild(own);
  wrap.appendChild(panel);  // the launcher built above is not drawn here: the loader draws its own on the host page
  root.appendChild(wrap);

  function applyLanguage() {
    panel.setAttribute("aria-labelledby", "etw-title");
    title.textContent = data.title || t("title");
    subtitle.textContent = t("subtitle");
    launcherLabel.textContent = t("open");
    langButton.textContent = t("langToggle");
    langButton.setAttribute("aria-label", t("langLabel"));
    langButton.setAttribute("lang", state.lang === "zh" ? "en" : "zh");
    personButton.textContent = t("person");
    downloadButton.textContent = t("download");
    eraseButton.textContent = t("erase");
    closeButton.setAttribute("aria-label", t("close"));
    sendButton.textContent = t("send");
    input.setAttribute("placeholder", t("placeholder"));
    inputLabel.textContent = t("placeholder");
    logBox.setAttribute("aria-label", t("log"));
    verifyTitle.textContent = t("verifyTitle") + " — " + t("verifyLabel");
    verifyHint.textContent = t("verifyHint");
    verifyShow.textContent = verifyInput.type === "password" ? t("show") : t("hide");
    verifySend.textContent = t("verifySend");
    panel.setAttribute("lang", state.lang === "zh" ? "zh-CN" : "en");
    updateBadge();
  }

  function updateBadge() {
    badge.hidden = state.unread === 0;
    badge.textContent = String(state.unread);
    launcher.setAttribute("aria-label", t("open") + (state.unread ? " (" + t("unread", { n: state.unread }) + ")" : ""));
    tellLoader(false);
  }
  // The loader draws the launcher and its badge on the host page: it learns only these three things.
  var loaderTold = false;
  function tellLoader(ready) {
    if (window.parent === window || (!ready && !loaderTold)) return;
    loaderTold = true;
    window.parent.postMessage({ etown: "state", ready: ready, open: state.open, unread: state.unread, lang: state.lang }, "*");
  }
  window.addEventListener("message", function (event) {
    if (event.source !== window.parent || !event.data) return;
    if (event.data.etown === "open") setOpen(true);
    if (event.data.etown === "close" && state.open) setOpen(false);
  });

  function scrollDown() { logBox.scrollTop = logBox.scrollHeight; }

  // ---- rendering messages ----
  // Buttons stay visible; once the user has said anything after them, they are disabled.
  function disableButtons() {
    Array.prototype.forEach.call(log.querySelectorAll(".buttons[data-live='1']"), function (group) {
      group.dataset.live = "0";
      Array.prototype.forEach.call(group.querySelectorAll("button"), function (b) { b.disabled = true; });
    });
  }

  function buttonsFor(list) {
    var box = el("div", { class: "buttons", role: "group" });
    box.dataset.live = "1";
    list.forEach(function (b) {
      var button = el("button", { type: "button" }, b.title);
      button.addEventListener("click", function () {
        if (button.disabled) return;
        Array.prototype.forEach.call(box.querySelectorAll("button"), function (x) { x.disabled = true; });
        box.dataset.live = "0";
        button.classList.add("chosen");
        send({ type: "button", id: uid(), payload: b.payload, title: b.title }, b.title);
      });
      box.appendChild(button);
    });
    return box;
  }

  function ratingFor(seq) {
    var row = el("div", { class: "rate" });
    row.appendChild(el("span", {}, t("helpful")));
    ["up", "down"].forEach(function (value) {
      var b = el("button", { type: "button" }, value === "up" ? t("yes") : t("no"));
      b.addEventListener("click", function () {
        row.replaceChildren(el("span", {}, t("thanks")));
        send({ type: "feedback", id: uid(), seq: seq, value: value }, null);
      });
      row.appendChild(b);
    });
    return row;
  }

  function checklistCard(c) {
    var card = el("div", { class: "card", role: "group" });
    card.appendChild(el("h3", {}, c.title));
    var list = el("ol");
    var key = [c.procedure, c.category, c.location, (c.situations || []).join("+")].join("|");
    var ticks = state.ticks[key] || {};
    c.items.forEach(function (item) {
      var li = el("li");
      var label = el("label");
      var box = el("input", { type: "checkbox" });
      box.checked = !!ticks[item.id];
      box.addEventListener("change", function () {
        ticks[item.id] = box.checked; state.ticks[key] = ticks; save();
      });
      var text = el("span");
      text.appendChild(el("strong", {}, item.name));
      text.appendChild(el("span", { class: "note" }, item.note));
      (item.common_mistakes || []).forEach(function (m) { text.appendChild(el("span", { class: "warn" }, "⚠ " + t("mistakes") + ": " + m)); });
      label.appendChild(box); label.appendChild(text);
      li.appendChild(label); list.appendChild(li);
    });
    card.appendChild(list);
    if (/^https?:\/\//.test(c.print_url || "")) {
      card.appendChild(el("a", { href: c.print_url, target: "_blank", rel: "noopener noreferrer" }, t("print")));
    }
    return card;
  }

  function caseCard(c) {
    var card = el("div", { class: "card case", role: "group" });
    card.appendChild(el("h3", {}, t("case") + " " + c.case + ": " + c.stage_label));
    var steps = el("div", { class: "steps", "aria-hidden": "true" });
    // The procedure's stages and the case's place among them come with the payload (knowledge/procedures.yml).
    var index = typeof c.step === "number" ? c.step : -1;
    (Array.isArray(c.steps) ? c.steps : []).forEach(function (s, i) { steps.appendChild(el("span", { class: i < index ? "done" : i === index ? "now" : "" })); });
    card.appendChild(steps);
    card.appendChild(el("p", {}, t("since") + " " + c.stage_since));
    if (c.due) {
      var due = el("p");
      due.appendChild(document.createTextNode(t("due") + " " + c.due + (c.due_estimated ? " (" + t("estimated") + ")" : "") + " · "));
      due.appendChild(el("span", { class: c.on_time ? "ok" : "late" }, c.on_time ? t("onTime") : t("late")));
      card.appendChild(due);
      // Which rule the date follows, and whether the bureau has confirmed it (knowledge/procedures.yml).
      if (c.due_rule) card.appendChild(el("p", { class: "note" }, c.due_rule));
    }
    if (c.missing && c.missing.length) {
      card.appendChild(el("p", {}, t("missing") + ":"));
      var ul = el("ul");
      c.missing.forEach(function (m) { ul.appendChild(el("li", {}, m)); });
      card.appendChild(ul);
    }
    if (c.next) card.appendChild(el("p", { class: "note" }, c.next));
    return card;
  }

  // Computed deadlines of a guide answer (bot/deadlines): a small timeline, and the .ics link the gateway builds.
  function deadlineTimeline(c) {
    var box = el("div", { class: "card deadlines", role: "group", "aria-label": t("timeline") });
    box.appendChild(el("h3", {}, t("timeline")));
    var list = el("ol");
    c.deadlines.slice().sort(function (a, b) { return a.date < b.date ? -1 : 1; }).forEach(function (d) {
      var note = (d.past ? " · " + t("passed") : "") + (d.estimate ? " · " + t("estimated") : "");
      list.appendChild(el("li", { class: d.past ? "late" : "" }, d.date + " — " + d.title + note));
    });
    box.appendChild(list);
    if (/^https?:\/\//.test(c.ics_url || "")) box.appendChild(el("a", { href: c.ics_url, download: "" }, t("ics")));
    return box;
  }

  function showBanner(text) { banner.textContent = text; banner.hidden = !text; }

  // ---- a guide answer: each section's key fact first, its details under a "More" toggle ----
  function keyFactFirst(bubble, blocks, note) {
    var text = bubble.querySelector(".md");
    if (!text || !Array.isArray(blocks) || !blocks.length) return;
    var box = el("div", { class: "md answer" });
    blocks.forEach(function (b, i) {
      var head = el("p"); head.appendChild(el("strong", {}, String(b.title || ""))); box.appendChild(head);
      box.appendChild(markdown(b.key_fact));
      var more = b.details ? markdown(b.details) : null;
      if (more) {
        more.hidden = true;
        more.id = "wp-more-" + uid() + "-" + i;
        var toggle = el("button", { type: "button", class: "more", "aria-expanded": "false", "aria-controls": more.id }, t("more"));
        toggle.addEventListener("click", function () {
          more.hidden = !more.hidden;
          toggle.setAttribute("aria-expanded", String(!more.hidden));
          toggle.textContent = t(more.hidden ? "more" : "less");
        });
        box.appendChild(toggle);
        box.appendChild(more);
      }
      box.appendChild(markdown(b.footer));
    });
    if (note) box.appendChild(markdown(note));
    bubble.replaceChild(box, text);
  }

  function handleCustom(custom, message) {
    if (custom.type === "guide_answer" && state.lastBot) {
      keyFactFirst(state.lastBot, custom.blocks, custom.note);
      if (custom.deadlines && custom.deadlines.length) state.lastBot.appendChild(deadlineTimeline(custom));
      state.lastBot.appendChild(ratingFor(message.seq));
      return null;
    }
    if (custom.type === "checklist") return checklistCard(custom);
    if (custom.type === "case_status") { verify.hidden = true; return caseCard(custom); }
    if (custom.type === "verify_request") {
      verify.hidden = false;
      if (state.open) verifyInput.focus();
      return null;
    }
    if (custom.type === "verify_locked") { verify.hidden = true; return null; }
    if (custom.type === "handoff") {
      showBanner(custom.office_open ? t("queue", { p: custom.queue_position || 1, m: Math.max(1, Math.round((custom.estimated_wait_s || 60) / 60)) })
        : t("offlineStaff", { t: (custom.next_open || "").replace("T", " ").slice(0, 16) }));
      return null;
    }
    if (custom.type === "language" && custom.lang) { state.lang = custom.lang; state.langChosen = true; save(); applyLanguage(); }
    if (custom.type === "resolved") showBanner("");
    return null;
  }

  function render(m, live) {
    if (m.seq && state.seen[m.seq]) return;
    if (m.seq) { state.seen[m.seq] = true; state.lastSeq = Math.max(state.lastSeq, m.seq); }
    if (m.role === "user" && m.id) {
      var local = log.querySelector("li[data-id='" + String(m.id).replace(/[^a-zA-Z0-9_-]/g, "") + "']");
      if (local) { local.classList.remove("pending"); var st = local.querySelector(".state"); if (st) st.remove(); return; }
      if (state.pending[m.id]) { delete state.pending[m.id]; save(); }
    }
    var item = null;
    if (m.custom) item = handleCustom(m.custom, m);
    if (!m.text && !item) return;
    if (!item) {
      item = el("li", { class: "msg " + m.role });
      if (m.role === "staff") item.appendChild(el("span", { class: "who" }, m.author || t("staff")));
      if (m.role === "bot" || m.role === "staff") item.appendChild(markdown(m.text)); else item.appendChild(el("span", {}, m.text));
      if (m.buttons && m.buttons.length) item.appendChild(buttonsFor(m.buttons));
      if (m.role === "bot") state.lastBot = item;
    } else {
      var wrapItem = el("li", { class: "msg bot" });
      wrapItem.appendChild(item);
      item = wrapItem;
    }
    if (m.role === "user") disableButtons();
    log.appendChild(item);
    if (live && !state.open && (m.role === "bot" || m.role === "staff")) { state.unread += 1; updateBadge(); }
    scrollDown();
  }

  function pendingBubble(frame, label) {
    if (!label) return;
    var item = el("li", { class: "msg user pending" });
    item.dataset.id = frame.id;
    item.appendChild(el("span", {}, label));
    item.appendChild(el("span", { class: "state" }, t("resent")));
    log.appendChild(item);
    scrollDown();
  }

  // ---- the connection: stored before acknowledged; unacknowledged frames are resent with the same id ----
  function send(frame, label) {
    if (frame.id) {
      state.pending[frame.id] = { frame: frame, label: label };
      save();
      disableButtons();
      pendingBubble(frame, label);
    }
    if (state.ws && state.ws.readyState === 1) state.ws.send(JSON.stringify(frame));
  }

  function connect() {
    var url = server.replace(/^http/, "ws") + "/ws";
    var ws;
    try { ws = new WebSocket(url); } catch (e) { setTimeout(connect, state.retry); return; }
    state.ws = ws;
    ws.onopen = function () {
      state.retry = 500;
      ws.send(JSON.stringify({ type: "hello", conversation: state.conversation, after: state.lastSeq }));
    };
    ws.onmessage = function (event) {
      var f;
      try { f = JSON.parse(event.data); } catch (e) { return; }
      if (f.type === "welcome") {
        if (state.conversation !== f.conversation) { state.seen = {}; state.lastSeq = 0; log.replaceChildren(); }
        state.conversation = f.conversation;
        save();
        if (state.langChosen) ws.send(JSON.stringify({ type: "set_language", lang: state.lang }));
        f.history.forEach(function (m) { render(m, false); });
        if (f.state === "queued" || f.state === "assigned") showBanner(banner.textContent || "");
        typing.textContent = "";
        Object.keys(state.pending).forEach(function (id) {
          var entry = state.pending[id];
          if (!log.querySelector("li[data-id='" + id + "']")) pendingBubble(entry.frame, entry.label);
          ws.send(JSON.stringify(entry.frame));
        });
      } else if (f.type === "ack") {
        var entry = f.id && state.pending[f.id];
        if (entry) { delete state.pending[f.id]; save(); }
        var bubble = f.id && log.querySelector("li[data-id='" + String(f.id).replace(/[^a-zA-Z0-9_-]/g, "") + "']");
        if (bubble) { bubble.classList.remove("pending"); var st = bubble.querySelector(".state"); if (st) st.remove(); }
      } else if (f.type === "deleted") {
        forget();
      } else if (f.type === "message") {
        render(f, true);
      } else if (f.type === "typing") {
        typing.textContent = f.active ? (f.role === "staff" ? t("typingStaff") : t("typingBot")) : "";
      } else if (f.type === "queue") {
        showBanner(t("queue", { p: f.position, m: Math.max(1, Math.round(f.estimated_wait_s / 60)) }));
      } else if (f.type === "state") {
        if (f.state === "assigned") showBanner(t("joined", { name: f.staff || t("staff") }));
        if (f.state === "bot") showBanner("");
      } else if (f.type === "notice") {
        log.appendChild(el("li", { class: "msg system" }, f.text)); scrollDown();
      } else if (f.type === "error") {
        var failed = f.id && state.pending[f.id];
        if (failed) {
          delete state.pending[f.id]; save();
          var gone = log.querySelector("li[data-id='" + String(f.id).replace(/[^a-zA-Z0-9_-]/g, "") + "']");
          if (gone) gone.remove();
          if (failed.frame.type === "message" && !input.value) input.value = failed.frame.text;
        }
        log.appendChild(el("li", { class: "msg system", role: "alert" }, f.message)); scrollDown();
      }
    };
    ws.onclose = function () {
      state.ws = null;
      typing.textContent = t("offline");
      setTimeout(connect, state.retry);
      state.retry = Math.min(state.retry * 2, 15000);
    };
  }

  // ---- controls ----
  function setOpen(open) {
    state.open = open;
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    if (open) { state.unread = 0; scrollDown(); input.focus(); }
    updateBadge();  // tells the loader, which shows or hides the frame and puts the focus back on its launcher
  }
  closeButton.addEventListener("click", function () { setOpen(false); });
  panel.addEventListener("keydown", function (event) { if (event.key === "Escape") setOpen(false); });
  langButton.addEventListener("click", function () {
    state.lang = state.lang === "zh" ? "en" : "zh";
    state.langChosen = true;
    save();
    applyLanguage();
    if (state.ws && state.ws.readyState === 1) state.ws.send(JSON.stringify({ type: "set_language", lang: state.lang }));
  });
  personButton.addEventListener("click", function () { send({ type: "handoff", id: uid() }, t("person")); });
  function own_(method, path) {
    return fetch(server + path, { method: method, headers: { Authorization: "Bearer " + state.conversation }, credentials: "omit" });
  }
  function forget() {
    state.conversation = null; state.pending = {}; state.ticks = {}; state.seen = {}; state.lastSeq = 0;
    save(); log.replaceChildren();
    if (state.ws) state.ws.close();
  }
  downloadButton.addEventListener("click", function () {
    if (!state.conversation) return;
    own_("GET", "/api/conversation/export").then(function (r) { return r.ok ? r.blob() : null; }).then(function (blob) {
      if (!blob) return;
      var a = el("a", { href: URL.createObjectURL(blob), download: "conversation.json" });
      root.appendChild(a); a.click(); a.remove();
    });
  });
  eraseButton.addEventListener("click", function () {
    if (!state.conversation || !window.confirm(t("eraseConfirm"))) return;
    own_("DELETE", "/api/conversation").then(function (r) { if (r.ok || r.status === 404) forget(); });
  });
  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send({ type: "message", id: uid(), text: text }, text);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); composer.requestSubmit(); }
  });
  verifyShow.addEventListener("click", function () {
    verifyInput.type = verifyInput.type === "password" ? "text" : "password";
    verifyShow.textContent = verifyInput.type === "password" ? t("show") : t("hide");
  });
  verify.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = verifyInput.value.trim();
    if (!value) return;
    verifyInput.value = "";
    verify.hidden = true;
    send({ type: "verify", id: uid(), passport: value }, t("passportSent"));
  });

  function start() {
    document.body.appendChild(host);
    applyLanguage();
    connect();
    tellLoader(true);
    if (data.open === "true") setOpen(true);
  }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);

  // ---- the loader, on the host page: a launcher and the frame, nothing of the conversation ----
  function adopt(root, css) {
    // A constructed style sheet: a host page whose CSP refuses inline <style> still styles the launcher.
    if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function" && CSSStyleSheet.prototype.replaceSync) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.appendChild(el("style", {}, css));
    }
  }
  function loader() {
    var lang = data.lang === "zh" ? "zh" : data.lang === "en" ? "en" : (navigator.language || "").indexOf("zh") === 0 ? "zh" : "en";
    var open = false;
    var unread = 0;
    var host = el("div", { id: "etown-work-permit-assistant" });
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    adopt(root, [
      ":host{all:initial}",
      ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:60px;height:60px;border-radius:50%;border:0;background:#0b5cad;color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;padding:0;font:15px system-ui,sans-serif}",
      ".badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;border-radius:11px;background:#c62828;color:#fff;font-size:12px;line-height:22px;padding:0 6px}",
      ".badge[hidden],iframe[hidden]{display:none}",
      "iframe{position:fixed;right:20px;bottom:92px;z-index:2147483001;width:380px;max-width:calc(100vw - 24px);height:600px;max-height:calc(100vh - 110px);border:0;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);background:#fff;color-scheme:normal}",
      ".launcher:focus-visible{outline:3px solid #f5a623;outline-offset:2px}",
      ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
      "@media (max-width:600px){iframe{right:0;bottom:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}.launcher{right:14px;bottom:14px}}"
    ].join("\n"));
    var query = new URLSearchParams();
    ["lang", "title", "open"].forEach(function (name) { if (data[name]) query.set(name, data[name]); });
    var frame = el("iframe", { src: server + "/widget/frame?" + query.toString(), title: (T[lang] || T.en).title, hidden: "" });
    var button = el("button", { class: "launcher", type: "button", "aria-haspopup": "dialog", "aria-expanded": "false" });
    var label = el("span", { class: "sr" });
    var count = el("span", { class: "badge", hidden: "" });
    button.appendChild(chatIcon()); button.appendChild(label); button.appendChild(count);
    root.appendChild(frame); root.appendChild(button);

    function draw() {
      var text = T[lang] || T.en;
      label.textContent = text.open;
      count.hidden = unread === 0;
      count.textContent = String(unread);
      button.setAttribute("aria-label", text.open + (unread ? " (" + text.unread.split("{n}").join(String(unread)) + ")" : ""));
      button.setAttribute("aria-expanded", String(open));
      frame.setAttribute("title", text.title);
    }
    function setOpen(next) {
      if (next === open) return;
      open = next;
      frame.hidden = !open;
      draw();
      if (open) frame.focus(); else button.focus();
      frame.contentWindow.postMessage({ etown: open ? "open" : "close" }, server);
    }
    window.addEventListener("message", function (event) {
      if (event.source !== frame.contentWindow || event.origin !== server) return;
      var m = event.data || {};
      if (m.etown !== "state") return;
      lang = m.lang === "zh" ? "zh" : "en";
      unread = Number(m.unread) || 0;
      if (m.ready && open) frame.contentWindow.postMessage({ etown: "open" }, server);  // asked before it loaded
      else if (!m.ready && m.open !== open) setOpen(!!m.open);  // closed (or opened) from inside the panel
      draw();
    });
    button.addEventListener("click", function () { setOpen(!open); });
    function begin() {
      document.body.appendChild(host);
      draw();
      if (data.open === "true") setOpen(true);
    }
    if (document.body) begin(); else document.addEventListener("DOMContentLoaded", begin);
    window.EtownWidget = { open: function () { setOpen(true); }, close: function () { setOpen(false); } };
  }
})();
