// Staff console. Everything an applicant, the bot or a colleague wrote is inserted with textContent only.
(function () {
  "use strict";
  var csrf = null;
  var me = null;
  var selected = null;
  var view = "queue";
  var detail = document.getElementById("detail");
  var alertBox = document.getElementById("alert");

  // Background requests (polling, refreshes caused by live events) do not count as use: the session still ends
  // after STAFF_IDLE_MINUTES without a person touching the console.
  function api(path, body, background) {
    var options = { credentials: "same-origin", headers: {} };
    if (background) options.headers["X-Staff-Background"] = "1";
    if (body !== undefined) {
      options.method = "POST";
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRF-Token"] = csrf;
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(function (response) {
      if (response.status === 401) { location.href = "/staff/login"; throw new Error("login"); }
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.message || ("HTTP " + response.status)); }
        return data;
      });
    });
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function minutes(seconds) { return Math.max(0, Math.round(seconds / 60)) + " min"; }

  function notify(text) {
    alertBox.textContent = text;
    document.title = "● " + text;
    try {
      var audio = new (window.AudioContext || window.webkitAudioContext)();
      var tone = audio.createOscillator();
      tone.frequency.value = 880;
      tone.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.15);
    } catch (e) { /* no audio: the visual alert is enough */ }
    setTimeout(function () { document.title = "Staff console · 工作人员控制台"; }, 8000);
  }

  function loadTickets(background) {
    var path = view === "resolved" ? "/staff/api/tickets?status=resolved" : "/staff/api/tickets";
    return api(path, undefined, background === true).then(function (data) {
      var list = document.getElementById("tickets");
      list.replaceChildren();
      if (!data.tickets.length) list.appendChild(el("li", "Nothing waiting · 暂无待处理", "empty"));
      data.tickets.forEach(function (t) {
        var item = el("li", null, "ticket " + t.status);
        var button = el("button");
        button.type = "button";
        button.dataset.ticket = t.id;
        button.appendChild(el("strong", "#" + t.id + " · " + t.status));
        button.appendChild(el("span", " " + t.language.toUpperCase() + " · " + (t.topic || "—") + " · " + t.reason));
        button.appendChild(el("span", " waited " + minutes(t.waiting_s) + (t.assigned_to ? " · " + t.assigned_to : ""), "muted"));
        if (!t.office_open) button.appendChild(el("span", " · left a message", "muted"));
        button.addEventListener("click", function () { select(t.id); });
        if (selected === t.id) item.classList.add("active");
        item.appendChild(button);
        list.appendChild(item);
      });
    });
  }

  function renderMessage(m) {
    var item = el("li", null, "msg " + m.role);
    var who = m.role === "staff" ? (m.author || "staff") : m.role;
    item.appendChild(el("span", who, "who"));
    item.appendChild(el("span", m.text || "", "text"));
    var custom = m.custom || {};
    if (custom.type === "guide_answer") item.appendChild(el("span", "cites: " + custom.title + " (" + custom.section + ")", "cite"));
    if (custom.type === "case_status") item.appendChild(el("span", "case " + custom.case + ": " + custom.stage, "cite"));
    if (m.buttons && m.buttons.length) {
      item.appendChild(el("span", "buttons: " + m.buttons.map(function (b) { return b.title; }).join(" | "), "cite"));
    }
    if (m.custom && !m.text && custom.type !== "guide_answer" && custom.type !== "case_status") return null;
    return item;
  }

  function select(id, background) {
    selected = id;
    var quiet = background === true;
    return api("/staff/api/tickets/" + id, undefined, quiet).then(render).then(function () { return loadTickets(quiet); }).catch(function (e) { notify(e.message); });
  }

  // What a staff member is typing survives a refresh of the same ticket (live events re-render it at any moment).
  var TYPED = ".resolve input[name=note], .reply textarea, .section-search, .note input";
  function keepTyping(ticketId) {
    if (detail.dataset.ticket !== String(ticketId)) return null;
    var fields = Array.prototype.slice.call(detail.querySelectorAll(TYPED));
    return { values: fields.map(function (f) { return f.value; }), focused: fields.indexOf(document.activeElement) };
  }
  function restoreTyping(kept) {
    if (!kept) return;
    var fields = detail.querySelectorAll(TYPED);
    kept.values.forEach(function (value, i) {
      if (!fields[i] || !value) return;
      fields[i].value = value;
      if (fields[i].classList.contains("section-search")) fields[i].dispatchEvent(new Event("input"));
    });
    if (kept.focused >= 0 && fields[kept.focused]) fields[kept.focused].focus();
  }

  // Empty a field once what it held is sent (in the form now shown, which a refresh may have replaced meanwhile).
  function cleared(selector, sent) {
    var field = detail.querySelector(selector);
    if (field && field.value.trim() === sent.trim()) field.value = "";
  }

  function render(data) {
    var t = data.ticket;
    var kept = keepTyping(t.id);
    var node = document.getElementById("detail-template").content.cloneNode(true);
    node.querySelector(".t-title").textContent = "#" + t.id + " · " + t.status + (t.assigned_to ? " · " + t.assigned_to : "");
    node.querySelector(".t-meta").textContent =
      "language " + t.language + " · topic " + (t.topic || "—") + " · reason " + t.reason + " · waited " + minutes(t.waiting_s) +
      (t.contact ? " · contact " + t.contact : "");
    node.querySelector(".t-summary").textContent = t.summary;
    if (data.case) {
      var box = node.querySelector(".t-case");
      box.hidden = false;
      var dl = box.querySelector(".case");
      [["number", data.case.application_number], ["procedure", data.case.procedure], ["stage", data.case.stage],
       ["since", data.case.stage_since], ["applicant", data.case.applicant_name], ["employer", data.case.employer],
       ["missing", data.case.missing.map(function (m) { return m.item; }).join("; ") || "—"]].forEach(function (pair) {
        dl.appendChild(el("dt", pair[0]));
        dl.appendChild(el("dd", pair[1] || "—"));
      });
    }
    var transcript = node.querySelector(".transcript");
    data.transcript.forEach(function (m) { var item = renderMessage(m); if (item) transcript.appendChild(item); });
    var notes = node.querySelector(".note-list");
    t.notes.forEach(function (n) { notes.appendChild(el("li", n.author + ": " + n.text)); });
    var mine = t.status === "assigned" && me && t.assignee_id === me.id;
    node.querySelector(".claim").hidden = t.status !== "queued";
    node.querySelector(".requeue").hidden = !(mine || (me && me.role === "admin" && t.status === "assigned"));
    node.querySelector(".resolve").hidden = t.status === "resolved";
    node.querySelector(".reply").hidden = !mine;
    wire(node, t);
    detail.replaceChildren(node);
    detail.dataset.ticket = String(t.id);
    restoreTyping(kept);
    transcript = detail.querySelector(".transcript");
    transcript.scrollTop = transcript.scrollHeight;
  }

  function wire(node, t) {
    node.querySelector(".claim").addEventListener("click", function () {
      api("/staff/api/tickets/" + t.id + "/claim", {}).then(function () { select(t.id); }).catch(function (e) { notify(e.message); });
    });
    node.querySelector(".requeue").addEventListener("click", function () {
      api("/staff/api/tickets/" + t.id + "/requeue", {}).then(function () { select(t.id); }).catch(function (e) { notify(e.message); });
    });
    node.querySelector(".resolve").addEventListener("submit", function (event) {
      event.preventDefault();
      var form = event.target;
      api("/staff/api/tickets/" + t.id + "/resolve", {
        reason: form.reason.value, note: form.note.value, guide_gap: form.gap.checked
      }).then(function () { select(t.id); }).catch(function (e) { notify(e.message); });
    });
    var reply = node.querySelector(".reply");
    var typingTimer = null;
    reply.text.addEventListener("input", function () {
      if (typingTimer === null) api("/staff/api/tickets/" + t.id + "/typing", { active: true }).catch(function () {});
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () {
        typingTimer = null;
        api("/staff/api/tickets/" + t.id + "/typing", { active: false }).catch(function () {});
      }, 2500);
    });
    reply.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = reply.text.value.trim();
      if (!text) return;
      api("/staff/api/tickets/" + t.id + "/reply", { text: text }).then(function () {
        cleared(".reply textarea", text);
        select(t.id);
      }).catch(function (e) { notify(e.message); });
    });
    var search = node.querySelector(".section-search");
    var pick = node.querySelector(".section-pick");
    var found = {};
    function findSections() {
      api("/staff/api/sections?lang=" + encodeURIComponent(t.language) + "&q=" + encodeURIComponent(search.value)).then(function (data) {
        pick.replaceChildren();
        data.sections.forEach(function (s) {
          found[s.id] = s.text;
          var option = el("option", s.title);
          option.value = s.id;
          pick.appendChild(option);
        });
      });
    }
    search.addEventListener("input", findSections);
    findSections();
    node.querySelector(".insert").addEventListener("click", function () {
      if (found[pick.value]) reply.text.value = (reply.text.value ? reply.text.value + "\n" : "") + found[pick.value];
      reply.text.focus();
    });
    node.querySelector(".note").addEventListener("submit", function (event) {
      event.preventDefault();
      var input = event.target.text;
      if (!input.value.trim()) return;
      var text = input.value;
      api("/staff/api/tickets/" + t.id + "/note", { text: text }).then(function () { cleared(".note input", text); select(t.id); })
        .catch(function (e) { notify(e.message); });
    });
  }

  function loadFeedback() {
    api("/staff/api/feedback").then(function (data) {
      var body = document.querySelector("#feedback tbody");
      body.replaceChildren();
      data.sections.forEach(function (f) {
        var row = el("tr");
        var name = el("td");
        name.appendChild(el("strong", f.title));
        name.appendChild(el("div", f.section, "muted"));
        row.appendChild(name);
        row.appendChild(el("td", f.not_helpful));
        row.appendChild(el("td", f.helpful));
        var questions = el("td");
        f.questions.slice(0, 5).forEach(function (q) { questions.appendChild(el("div", q)); });
        row.appendChild(questions);
        body.appendChild(row);
      });
    });
  }

  function loadGaps() {
    loadFeedback();
    api("/staff/api/gaps").then(function (data) {
      var body = document.querySelector("#gaps tbody");
      body.replaceChildren();
      data.groups.forEach(function (g) {
        var row = el("tr");
        row.appendChild(el("td", g.count));
        var questions = el("td");
        questions.appendChild(el("strong", g.label));
        g.questions.slice(1, 6).forEach(function (q) { questions.appendChild(el("div", q, "muted")); });
        row.appendChild(questions);
        row.appendChild(el("td", Object.keys(g.sources).map(function (k) { return k + " " + g.sources[k]; }).join(", ")));
        row.appendChild(el("td", g.staff_answers.slice(0, 3).join(" | ")));
        body.appendChild(row);
      });
    });
  }

  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/staff/ws");
    ws.onmessage = function (event) {
      var e = JSON.parse(event.data);
      if (e.type === "ticket_new") notify("New conversation waiting · 新的待接入对话 #" + e.ticket);
      // "resync": live events may have been lost on the server's side (Redis restarted); re-read both lists.
      if (e.type === "ticket_new" || e.type === "queue_changed" || e.type === "resync") loadTickets(true);
      if ((e.type === "ticket_message" || e.type === "resync") && selected !== null) select(selected, true);
    };
    // The server closes the socket when the session ends (idle timeout, logout elsewhere): back to the login page.
    ws.onclose = function () {
      setTimeout(function () { api("/staff/api/me", undefined, true).then(connect, function () {}); }, 2000);
    };
  }

  document.querySelectorAll("nav [data-view]").forEach(function (button) {
    button.addEventListener("click", function () {
      view = button.dataset.view;
      document.querySelectorAll("nav [data-view]").forEach(function (b) { b.setAttribute("aria-pressed", String(b === button)); });
      document.getElementById("gaps-pane").hidden = view !== "gaps";
      document.getElementById("queue-pane").hidden = view === "gaps";
      detail.hidden = view === "gaps";
      if (view === "gaps") loadGaps(); else loadTickets();
    });
  });
  document.getElementById("logout").addEventListener("click", function () {
    api("/staff/logout", {}).finally(function () { location.href = "/staff/login"; });
  });

  api("/staff/api/me").then(function (data) {
    me = data;
    csrf = data.csrf;
    document.getElementById("me").textContent = data.user + " (" + data.role + ")";
    loadTickets();
    connect();
    setInterval(function () { loadTickets(true); }, 30000);
  });
})();
