/* The help desk's chat widget. Embed with one tag:  <script src="https://desk.example.com/widget.js" async></script>
   Everything lives in a shadow root, so the host page's CSS and ours never meet. Protocol: docs/chat-protocol.md. */
(function () {
  "use strict";
  if (window.__helpdeskChatLoaded) { return; }
  window.__helpdeskChatLoaded = true;

  var script = document.currentScript || (function () {
    var all = document.querySelectorAll("script[src*='widget.js']");
    return all[all.length - 1];
  })();
  var BASE = script.src.replace(/\/widget\.js(?:[?#].*)?$/, "");
  var KEY = "helpdesk-chat:" + BASE;
  var ACK_TIMEOUT = 10000;

  /* Saved state: the visitor token and messages not yet acknowledged survive reloads. ------------------ */
  function load() {
    try { return JSON.parse(window.localStorage.getItem(KEY)) || {}; } catch (e) { return {}; }
  }
  var saved = load();
  saved.outbox = saved.outbox || [];
  function save() {
    try { window.localStorage.setItem(KEY, JSON.stringify(saved)); } catch (e) { /* private mode: memory only */ }
  }

  /* DOM -------------------------------------------------------------------------------------------------- */
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text) { node.textContent = text; }
    return node;
  }

  var host = el("div", { id: "helpdesk-chat" });
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  root.appendChild(el("link", { rel: "stylesheet", href: BASE + "/static/widget/widget.css" }));
  var shell = el("div", { "class": "hdc" });
  root.appendChild(shell);

  var launcher = el("button", { type: "button", "class": "hdc-launcher", "aria-expanded": "false",
    "aria-controls": "hdc-panel" });
  launcher.appendChild(el("span", { "class": "hdc-launcher-text" }, "Chat with us"));
  var unread = el("span", { "class": "hdc-unread", hidden: "" }, "New");
  launcher.appendChild(unread);

  var panel = el("section", { id: "hdc-panel", "class": "hdc-panel", role: "dialog", "aria-modal": "false",
    "aria-labelledby": "hdc-title", hidden: "" });
  var head = el("header", { "class": "hdc-head" });
  var titles = el("div", { "class": "hdc-titles" });
  titles.appendChild(el("h2", { id: "hdc-title", "class": "hdc-title" }, "Chat with support"));
  var status = el("p", { "class": "hdc-status", role: "status", "aria-live": "polite" });
  titles.appendChild(status);
  head.appendChild(titles);
  var close = el("button", { type: "button", "class": "hdc-close", "aria-label": "Close chat" }, "×");
  head.appendChild(close);
  panel.appendChild(head);

  var form = el("form", { "class": "hdc-form", novalidate: "" });
  var INTRO = {
    available: "Ask us anything. We usually answer within minutes.",
    away: "Nobody is available to chat right now. Leave your question here: we will answer by email."
  };
  var intro = el("p", { "class": "hdc-intro" }, INTRO.available);
  form.appendChild(intro);
  function field(id, label, tag, attrs) {
    var wrap = el("div", { "class": "hdc-field" });
    wrap.appendChild(el("label", { "for": id }, label));
    var input = el(tag, Object.assign({ id: id, name: id.replace("hdc-", "") }, attrs));
    wrap.appendChild(input);
    form.appendChild(wrap);
    return input;
  }
  var nameInput = field("hdc-name", "Name", "input", { autocomplete: "name", maxlength: "200" });
  var emailInput = field("hdc-email", "Email", "input", { type: "email", autocomplete: "email", required: "",
    maxlength: "254" });
  var questionInput = field("hdc-question", "Question", "textarea", { rows: "3", required: "", maxlength: "10000" });
  var suggestions = el("div", { "class": "hdc-suggest", "aria-live": "polite", hidden: "" });
  form.appendChild(suggestions);
  var formError = el("p", { "class": "hdc-error", role: "alert" });
  form.appendChild(formError);
  form.appendChild(el("button", { type: "submit", "class": "hdc-primary" }, "Start chat"));
  panel.appendChild(form);

  var chat = el("div", { "class": "hdc-chat", hidden: "" });
  var notice = el("p", { "class": "hdc-notice", hidden: "" });
  chat.appendChild(notice);
  var log = el("ol", { "class": "hdc-log", role: "log", "aria-live": "polite", "aria-label": "Conversation",
    tabindex: "0" });
  chat.appendChild(log);
  var typingLine = el("p", { "class": "hdc-typing", "aria-live": "polite" });
  chat.appendChild(typingLine);
  var composer = el("form", { "class": "hdc-composer" });
  composer.appendChild(el("label", { "for": "hdc-message", "class": "hdc-hidden" }, "Message"));
  var messageInput = el("textarea", { id: "hdc-message", rows: "2", maxlength: "10000",
    placeholder: "Type your message…" });
  composer.appendChild(messageInput);
  composer.appendChild(el("button", { type: "submit", "class": "hdc-primary" }, "Send"));
  chat.appendChild(composer);
  var actions = el("div", { "class": "hdc-actions" });
  var transcriptButton = el("button", { type: "button", "class": "hdc-link" }, "Email me the transcript");
  var endButton = el("button", { type: "button", "class": "hdc-link" }, "End chat");
  var newButton = el("button", { type: "button", "class": "hdc-link", hidden: "" }, "Start a new chat");
  actions.appendChild(transcriptButton);
  actions.appendChild(endButton);
  actions.appendChild(newButton);
  chat.appendChild(actions);
  panel.appendChild(chat);

  shell.appendChild(panel);
  shell.appendChild(launcher);

  /* Showing things ---------------------------------------------------------------------------------------- */
  var state = null;
  var agentName = null;
  var lastId = 0;
  var shown = {};
  var typingTimer = null;
  var STATUS = { waiting: "Waiting for an agent to join…", offline: "Offline: leave a message", ended: "Chat ended" };
  var NOTICE = {
    offline: "Nobody is available to chat right now. Leave your message here: we will answer by email.",
    ended: "This chat has ended."
  };

  function setStatus() {
    if (socket && !socket.connected && saved.token) { status.textContent = "Reconnecting…"; return; }
    if (state === "active") { status.textContent = agentName ? "Connected with " + agentName : "Connected"; }
    else { status.textContent = state ? STATUS[state] : "We are here to help."; }
  }

  function setState(next) {
    state = next;
    chat.hidden = !state;
    form.hidden = !!state;
    notice.hidden = !NOTICE[state];
    notice.textContent = NOTICE[state] || "";
    composer.hidden = state === "ended";
    endButton.hidden = state === "ended";
    newButton.hidden = state !== "ended";
    if (state !== "active") { typingLine.textContent = ""; }
    setStatus();
  }

  function render(message, pending) {
    if (message.id && shown[message.id]) { return; }
    var item = message.client_id ? log.querySelector("[data-client='" + message.client_id + "']") : null;
    if (!item) {
      var mine = (message.author_type || "customer") === "customer";
      item = el("li", { "class": "hdc-msg hdc-" + (mine ? "customer" : message.author_type) });
      /* The visitor's own lines say "You" whichever way they came (the pre-chat question carries their name). */
      item.appendChild(el("span", { "class": "hdc-author" }, mine ? "You" : (message.author_name || "Support")));
      item.appendChild(el("p", { "class": "hdc-body" }, message.body));
      item.appendChild(el("span", { "class": "hdc-meta" }));
      log.appendChild(item);
    }
    if (message.client_id) { item.setAttribute("data-client", message.client_id); }
    item.querySelector(".hdc-meta").textContent = pending ? "Sending…" : (message.created_at ?
      new Date(message.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "");
    if (message.id) {
      shown[message.id] = true;
      lastId = Math.max(lastId, message.id);
    }
    log.scrollTop = log.scrollHeight;
    if (panel.hidden && message.author_type === "agent") { unread.hidden = false; }
  }

  /* Before the visitor types: can anyone chat now? (start decides again, and says "offline" if not.) */
  function checkAvailability() {
    if (state || !window.fetch) { return; }
    window.fetch(BASE + "/chat/availability")
      .then(function (r) { return r.ok ? r.json() : { available: true }; })
      .then(function (data) { intro.textContent = data.available === false ? INTRO.away : INTRO.available; })
      .catch(function () { /* keep the usual text: start still tells the truth */ });
  }

  function open() {
    panel.hidden = false;
    checkAvailability();
    launcher.setAttribute("aria-expanded", "true");
    unread.hidden = true;
    connect();
    (state ? (state === "ended" ? newButton : messageInput) : nameInput).focus();
  }

  function hide() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  launcher.addEventListener("click", function () { if (panel.hidden) { open(); } else { hide(); } });
  close.addEventListener("click", hide);
  panel.addEventListener("keydown", function (event) { if (event.key === "Escape") { hide(); } });

  /* Talking to the server ------------------------------------------------------------------------------- */
  var socket = null;

  function withClient(then) {
    if (typeof window.io === "function") { then(); return; }
    var tag = document.querySelector("script[data-helpdesk-socketio]");
    if (!tag) {
      tag = el("script", { src: BASE + "/static/vendor/socket.io.min.js", "data-helpdesk-socketio": "" });
      document.head.appendChild(tag);
    }
    tag.addEventListener("load", then);
  }

  function call(event, data, done) {
    socket.timeout(ACK_TIMEOUT).emit(event, data, function (err, ack) {
      done(err ? { error: { code: "timeout", message: "no answer from the server" } } : ack);
    });
  }

  function connect() {
    if (socket) { return; }
    withClient(function () {
      if (socket) { return; }
      socket = window.io(BASE + "/chat", {
        auth: function (cb) { cb({ visitor_token: saved.token || null }); }
      });
      socket.on("connect", function () { setStatus(); if (state) { catchUp(); } });
      socket.on("disconnect", setStatus);
      socket.on("state", function (data) {
        var first = !state;
        setState(data.state);
        if (first) { catchUp(); }
      });
      socket.on("agent", function (data) { agentName = data.name; setStatus(); });
      socket.on("message", function (data) { typingLine.textContent = ""; render(data); });
      socket.on("typing", function (data) {
        clearTimeout(typingTimer);
        typingLine.textContent = data.typing ? (data.author_name || agentName || "The agent") + " is typing…" : "";
        if (data.typing) { typingTimer = setTimeout(function () { typingLine.textContent = ""; }, 6000); }
      });
    });
  }

  function catchUp() {
    call("history", { after_id: lastId || null }, function (ack) {
      (ack.messages || []).forEach(function (m) { render(m); });
      flush();
    });
  }

  var flushing = false;
  function flush() {
    if (flushing || !saved.outbox.length || !socket || !socket.connected) { return; }
    flushing = true;
    var item = saved.outbox[0];
    call("message", { client_id: item.client_id, body: item.body }, function (ack) {
      flushing = false;
      if (ack.id) {
        saved.outbox.shift();
        save();
        render({ id: ack.id, client_id: item.client_id, body: item.body, created_at: ack.created_at,
          author_type: "customer" });
        flush();
      } else if (ack.error && /^(timeout|rate_limited|internal)$/.test(ack.error.code)) {
        setTimeout(flush, 2000);  /* resend with the same client_id: the server stores it once */
      } else {
        saved.outbox.shift();
        save();
        var item2 = log.querySelector("[data-client='" + item.client_id + "'] .hdc-meta");
        if (item2) { item2.textContent = "Not sent: " + ack.error.message; }
        flush();
      }
    });
  }

  function newId() {
    return "w" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    formError.textContent = "";
    if (!emailInput.value.trim() || !emailInput.checkValidity()) {
      formError.textContent = "Enter your email address, so we can answer even if you leave.";
      emailInput.focus();
      return;
    }
    if (!questionInput.value.trim()) { formError.textContent = "Write your question."; questionInput.focus(); return; }
    connect();
    withClient(function () {
      call("start", { name: nameInput.value.trim(), email: emailInput.value.trim(),
        message: questionInput.value.trim() }, function (ack) {
        if (ack.error) { formError.textContent = ack.error.message; return; }
        saved.token = ack.visitor_token;
        save();
        lastId = 0;
        shown = {};
        log.textContent = "";
        setState(ack.state);
        catchUp();
        questionInput.value = "";
        messageInput.focus();
      });
    });
  });

  /* Knowledge-base articles that may answer the question, as it is typed (when the desk has a knowledge base). */
  var suggestTimer = null;
  var lastQuery = "";
  function suggest() {
    var q = questionInput.value.trim();
    if (q === lastQuery) { return; }
    lastQuery = q;
    if (q.length < 3 || !window.fetch) { suggestions.hidden = true; return; }
    window.fetch(BASE + "/kb/suggest?limit=3&q=" + encodeURIComponent(q))
      .then(function (r) { return r.ok ? r.json() : { items: [] }; })
      .then(function (data) {
        if (q !== lastQuery) { return; }
        suggestions.textContent = "";
        var items = (data && data.items) || [];
        suggestions.hidden = !items.length;
        if (!items.length) { return; }
        suggestions.appendChild(el("p", { "class": "hdc-suggest-title" }, "These articles may answer it:"));
        var list = el("ul", {});
        items.forEach(function (item) {
          var li = el("li", {});
          li.appendChild(el("a", { href: item.url, target: "_blank", rel: "noopener" }, item.title));
          list.appendChild(li);
        });
        suggestions.appendChild(list);
      })
      .catch(function () { suggestions.hidden = true; });
  }
  questionInput.addEventListener("input", function () { clearTimeout(suggestTimer); suggestTimer = setTimeout(suggest, 300); });

  var typingSent = false;
  var idleTimer = null;
  function typing(on) {
    if (on === typingSent || !socket || !socket.connected || state !== "active") { return; }
    typingSent = on;
    socket.emit("typing", { typing: on });
  }
  messageInput.addEventListener("input", function () {
    typing(!!messageInput.value);
    clearTimeout(idleTimer);
    idleTimer = setTimeout(function () { typing(false); }, 4000);
  });
  messageInput.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); composer.requestSubmit(); }
  });

  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = messageInput.value.trim();
    if (!body) { return; }
    var item = { client_id: newId(), body: body };
    saved.outbox.push(item);
    save();
    render({ client_id: item.client_id, body: body, author_type: "customer" }, true);
    messageInput.value = "";
    typing(false);
    flush();
  });

  transcriptButton.addEventListener("click", function () {
    call("transcript", {}, function (ack) {
      notice.hidden = false;
      notice.textContent = ack.error ? ack.error.message : "We are emailing you the transcript.";
    });
  });
  endButton.addEventListener("click", function () {
    call("end", {}, function (ack) { if (!ack.error) { setState("ended"); newButton.focus(); } });
  });
  newButton.addEventListener("click", function () {
    state = null;
    agentName = null;
    setState(null);
    checkAvailability();
    nameInput.focus();
  });

  function mount() {
    document.body.appendChild(host);
    setState(null);
    if (saved.token) { connect(); }
  }
  if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }
})();
