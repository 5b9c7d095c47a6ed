// Plain chat page for trying the assistant. Every piece of user, bot or staff text is inserted with
// textContent, never as HTML. Unacknowledged messages are resent (same id) after a reconnect.
(function () {
  "use strict";
  var STORE = "etown-chat";
  var log = document.getElementById("log");
  var input = document.getElementById("input");
  var status = document.getElementById("status");
  var langSelect = document.getElementById("lang");
  var saved = JSON.parse(localStorage.getItem(STORE) || "{}");
  var state = { conversation: saved.conversation || null, lastSeq: 0, pending: {}, ws: null, retry: 500 };
  var seen = {};

  function save() { localStorage.setItem(STORE, JSON.stringify({ conversation: state.conversation })); }
  function newId() { return Date.now().toString(36) + Math.random().toString(36).slice(2, 10); }

  function add(role, text, extra) {
    var li = document.createElement("li");
    li.className = role;
    li.textContent = text || "";
    if (extra) li.appendChild(extra);
    log.appendChild(li);
    li.scrollIntoView({ block: "end" });
    return li;
  }

  function meta(custom) {
    if (!custom || custom.type !== "guide_answer") return null;
    var span = document.createElement("span");
    span.className = "meta";
    span.appendChild(document.createTextNode((custom.lang === "zh" ? "出处：" : "Source: ") + custom.title + " · " +
      (custom.lang === "zh" ? "审核日期 " : "reviewed ") + custom.reviewed + " "));
    if (custom.source_url && /^https?:\/\//.test(custom.source_url)) {
      var a = document.createElement("a");
      a.href = custom.source_url; a.target = "_blank"; a.rel = "noopener noreferrer";
      a.textContent = custom.lang === "zh" ? "官方页面" : "official page";
      span.appendChild(a);
    }
    return span;
  }

  function buttons(list) {
    var box = document.createElement("div");
    box.className = "buttons";
    list.forEach(function (b) {
      var btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = b.title;
      btn.addEventListener("click", function () {
        Array.prototype.forEach.call(box.querySelectorAll("button"), function (x) { x.disabled = true; });
        send({ type: "button", id: newId(), payload: b.payload, title: b.title });
      });
      box.appendChild(btn);
    });
    return box;
  }

  function render(m) {
    if (m.seq && seen[m.seq]) return;
    if (m.seq) { seen[m.seq] = true; state.lastSeq = Math.max(state.lastSeq, m.seq); }
    if (m.role === "user" && m.id && state.pending[m.id]) { delete state.pending[m.id]; }
    if (m.role === "user" && m.id && document.querySelector('li[data-id="' + CSS.escape(m.id) + '"]')) return;
    var custom = m.custom;
    if (!m.text && custom && custom.type !== "guide_answer") return;
    var extra = document.createDocumentFragment();
    var info = meta(custom);
    if (info) extra.appendChild(info);
    if (m.buttons && m.buttons.length) extra.appendChild(buttons(m.buttons));
    add(m.role, m.text, extra);
  }

  function send(frame) {
    if (frame.id) {
      state.pending[frame.id] = frame;
      if (frame.type === "message") add("user", frame.text).dataset.id = frame.id;
      if (frame.type === "button") add("user", frame.title).dataset.id = frame.id;
    }
    if (state.ws && state.ws.readyState === 1) state.ws.send(JSON.stringify(frame));
  }

  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    state.ws = ws;
    ws.onopen = function () {
      status.textContent = "connected";
      state.retry = 500;
      ws.send(JSON.stringify({ type: "hello", conversation: state.conversation, after: state.lastSeq }));
    };
    ws.onmessage = function (event) {
      var f = JSON.parse(event.data);
      if (f.type === "welcome") {
        state.conversation = f.conversation; save();
        if (f.language !== undefined) langSelect.value = f.language || "";
        f.history.forEach(render);
        Object.keys(state.pending).forEach(function (id) { ws.send(JSON.stringify(state.pending[id])); });
      } else if (f.type === "ack") {
        delete state.pending[f.id];
      } else if (f.type === "message") {
        render(f);
      } else if (f.type === "typing") {
        status.textContent = f.active ? "typing…" : "connected";
      } else if (f.type === "notice") {
        add("notice", f.text);
      } else if (f.type === "error") {
        if (f.id) delete state.pending[f.id];
        add("notice error", f.message);
      }
    };
    ws.onclose = function () {
      status.textContent = "reconnecting…";
      setTimeout(connect, state.retry);
      state.retry = Math.min(state.retry * 2, 10000);
    };
  }

  document.getElementById("composer").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send({ type: "message", id: newId(), text: text });
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); document.getElementById("composer").requestSubmit(); }
  });
  langSelect.addEventListener("change", function () {
    send({ type: "set_language", lang: langSelect.value || null });
  });
  connect();
})();
