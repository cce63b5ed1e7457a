/* The chat desk: incoming requests, chats side by side, presence. Speaks CONTRACT §6 on /agent.
   Every customer-written string goes into the page with textContent, never as HTML. */
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var desk = document.getElementById("chat-desk");
  if (!desk || typeof window.io !== "function") { return; }
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var socket = window.helpdeskAgentSocket = window.helpdeskAgentSocket || window.io("/agent");
  var me = desk.getAttribute("data-me");
  var panes = {};
  var requests = $("#chat-requests");
  var connection = $("#chat-connection");
  var ACK_TIMEOUT = 10000;
  var TITLE = document.title;

  /* Customer lines the agent has not looked at yet: a count on the chat, the total in the tab's title. */
  function showUnread() {
    var total = Object.keys(panes).reduce(function (sum, id) { return sum + panes[id].unread; }, 0);
    document.title = total ? "(" + total + ") " + TITLE : TITLE;
  }

  function call(event, data, done) {
    socket.timeout(ACK_TIMEOUT).emit(event, data, function (err, ack) {
      done(err ? { error: { code: "timeout", message: "No answer from the server; retrying." } } : ack);
    });
  }

  function newId() { return "d" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10); }

  /* Incoming requests ------------------------------------------------------------------------------------ */
  function countRequests() {
    var n = requests.children.length;
    $("#requests-count").textContent = String(n);
    $("#requests-empty").hidden = n > 0;
  }

  function addRequest(data) {
    if (requests.querySelector("[data-conversation='" + data.conversation_id + "']") || panes[data.conversation_id]) {
      return;
    }
    var item = document.createElement("li");
    item.className = "chat-request is-new";
    item.setAttribute("data-conversation", data.conversation_id);
    var who = document.createElement("p");
    who.className = "chat-request-who strong";
    who.textContent = (data.customer && (data.customer.name || data.customer.email)) || "Visitor";
    if (data.customer && data.customer.vip) {
      var vip = document.createElement("span");
      vip.className = "badge vip";
      vip.textContent = "VIP";
      who.appendChild(document.createTextNode(" "));
      who.appendChild(vip);
    }
    var text = document.createElement("p");
    text.className = "chat-request-text";
    text.textContent = data.message ? data.message.body : data.subject || "";
    var meta = document.createElement("p");
    meta.className = "hint";
    meta.textContent = data.ticket_reference + (data.transfer_from ? " · transferred by " + data.transfer_from : "");
    var accept = document.createElement("button");
    accept.type = "button";
    accept.className = "btn btn-primary btn-small";
    accept.setAttribute("data-accept", data.conversation_id);
    accept.textContent = data.transfer_from ? "Open" : "Accept";
    [who, text, meta, accept].forEach(function (node) { item.appendChild(node); });
    requests.appendChild(item);
    countRequests();
  }

  function dropRequest(id) {
    var item = requests.querySelector("[data-conversation='" + id + "']");
    if (item) { item.remove(); countRequests(); }
  }

  requests.addEventListener("click", function (event) {
    var button = event.target.closest("[data-accept]");
    if (!button) { return; }
    button.disabled = true;
    accept(parseInt(button.getAttribute("data-accept"), 10), function (error) {
      button.disabled = false;
      if (error) { button.textContent = error; }
    });
  });

  function accept(id, done) {
    call("accept", { conversation_id: id }, function (ack) {
      if (ack.error) { if (done) { done(ack.error.message); } return; }
      dropRequest(id);
      var pane = openPane(ack);
      ack.messages.forEach(function (m) { pane.render(m); });
      if (done) { done(null); }
      pane.textarea.focus();
    });
  }

  /* One chat ---------------------------------------------------------------------------------------------- */
  function openPane(ack) {
    if (panes[ack.conversation_id]) { return panes[ack.conversation_id]; }
    $("#chat-none").hidden = true;
    var node = $("#chat-pane-template").content.firstElementChild.cloneNode(true);
    var id = ack.conversation_id;
    node.setAttribute("data-conversation", id);
    var customer = ack.customer || {};
    $(".chat-pane-title", node).textContent = customer.name || customer.email || "Visitor";
    var ref = $(".chat-pane-ref", node);
    ref.textContent = ack.ticket_reference;
    ref.href = desk.getAttribute("data-ticket-url").replace("REF", ack.ticket_reference);
    var textarea = $("textarea", node);
    textarea.id = "chat-message-" + id;
    $(".chat-composer label", node).htmlFor = textarea.id;
    var select = $("[data-transfer-target]", node);
    select.id = "chat-transfer-" + id;
    $(".chat-transfer label", node).htmlFor = select.id;
    var log = $(".chat-log", node);
    var typingLine = $(".chat-typing", node);
    var errorLine = $(".chat-error", node);
    var shown = {};
    var lastId = 0;
    var typingSent = false;
    var idle = null;
    var typingTimer = null;

    var unreadBadge = $(".chat-unread", node);
    var pane = {
      node: node, textarea: textarea, unread: 0,
      markUnread: function () {
        pane.unread += 1;
        node.classList.add("has-unread");
        unreadBadge.hidden = false;
        unreadBadge.textContent = pane.unread + " new";
        showUnread();
      },
      markRead: function () {
        if (!pane.unread) { return; }
        pane.unread = 0;
        node.classList.remove("has-unread");
        unreadBadge.hidden = true;
        showUnread();
      },
      /* Seen: the page is in front and the agent is in this chat. */
      seen: function () { return !document.hidden && node.contains(document.activeElement); },
      render: function (m) {
        if (shown[m.id]) { return; }
        shown[m.id] = true;
        lastId = Math.max(lastId, m.id);
        var item = document.createElement("li");
        item.className = "chat-msg chat-" + (m.internal ? "note" : m.author_type);
        var author = document.createElement("span");
        author.className = "chat-author";
        author.textContent = m.author_name;
        var body = document.createElement("p");
        body.className = "chat-body";
        body.textContent = m.body;
        var time = document.createElement("time");
        time.className = "chat-time";
        time.dateTime = m.created_at;
        time.textContent = new Date(m.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        [author, body, time].forEach(function (n) { item.appendChild(n); });
        log.appendChild(item);
        log.scrollTop = log.scrollHeight;
        if (m.author_type === "customer") { typingLine.textContent = ""; }
      },
      typing: function (on) {
        clearTimeout(typingTimer);
        typingLine.textContent = on ? "The customer is typing…" : "";
        if (on) { typingTimer = setTimeout(function () { typingLine.textContent = ""; }, 6000); }
      },
      state: function (state, agent) {
        var gone = state === "ended" || state === "offline" || (agent && agent !== me) || state === "waiting";
        $(".chat-pane-state", node).textContent = agent && agent !== me ? "· transferred to " + agent : "· " + state;
        if (gone) {
          node.classList.add("is-closed");
          $(".chat-composer", node).hidden = true;
          $(".chat-transfer", node).hidden = true;
          $("[data-end]", node).hidden = true;
          $("[data-close]", node).hidden = false;
        }
      },
      catchUp: function () {
        call("history", { conversation_id: id, after_id: lastId || null }, function (ack2) {
          (ack2.messages || []).forEach(pane.render);
        });
      }
    };

    function sendTyping(on) {
      if (on === typingSent) { return; }
      typingSent = on;
      socket.emit("typing", { conversation_id: id, typing: on });
    }
    textarea.addEventListener("input", function () {
      sendTyping(!!textarea.value);
      clearTimeout(idle);
      idle = setTimeout(function () { sendTyping(false); }, 4000);
    });
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $(".chat-composer", node).requestSubmit(); }
    });

    function send(payload, attempt) {
      call("message", payload, function (ack2) {
        if (ack2.id) {
          errorLine.textContent = "";
          pane.render({ id: ack2.id, author_type: "agent", author_name: "You", body: payload.body,
            created_at: ack2.created_at });
        } else if (attempt < 5 && /^(timeout|rate_limited|internal)$/.test(ack2.error.code)) {
          errorLine.textContent = ack2.error.message;
          setTimeout(function () { send(payload, attempt + 1); }, 1000 * attempt);  /* same client_id */
        } else {
          errorLine.textContent = "Not sent: " + ack2.error.message;
        }
      });
    }
    $(".chat-composer", node).addEventListener("submit", function (event) {
      event.preventDefault();
      var body = textarea.value.trim();
      if (!body) { return; }
      textarea.value = "";
      sendTyping(false);
      send({ conversation_id: id, client_id: newId(), body: body }, 1);
    });

    node.addEventListener("focusin", pane.markRead);
    node.addEventListener("pointerdown", pane.markRead);
    node.addEventListener("click", function (event) {
      var canned = event.target.closest("[data-canned]");
      if (canned) {
        textarea.value = (textarea.value ? textarea.value + "\n" : "") + canned.getAttribute("data-canned");
        textarea.focus();
        return;
      }
      if (event.target.closest("[data-end]")) {
        call("end", { conversation_id: id }, function (ack2) {
          if (ack2.error) { errorLine.textContent = ack2.error.message; } else { pane.state("ended"); }
        });
      } else if (event.target.closest("[data-close]")) {
        node.remove();
        delete panes[id];
        showUnread();
        $("#chat-none").hidden = Object.keys(panes).length > 0;
      } else if (event.target.closest("[data-transfer]")) {
        var target = select.value;
        if (!target) { select.focus(); return; }
        var kind = target.slice(0, target.indexOf(":"));
        var payload = { conversation_id: id };
        payload[kind] = target.slice(kind.length + 1);
        call("transfer", payload, function (ack2) {
          errorLine.textContent = ack2.error ? ack2.error.message : "";
        });
      }
    });

    fetch(desk.getAttribute("data-customer-url").replace("/0/", "/" + id + "/"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) { $(".chat-customer-panel", node).innerHTML = html; /* server-rendered, autoescaped */ })
      .catch(function () { /* the ticket link still works */ });

    $("#chat-panes").appendChild(node);
    panes[id] = pane;
    return pane;
  }

  /* Live events ------------------------------------------------------------------------------------------- */
  socket.on("chat_request", function (data) {
    if (panes[data.conversation_id]) { return; }
    if (data.transfer_from) { accept(data.conversation_id); return; }  /* a transfer is already ours */
    addRequest(data);
  });
  socket.on("chat_state", function (data) {
    if (data.state !== "waiting") { dropRequest(data.conversation_id); }
    var pane = panes[data.conversation_id];
    if (pane) { pane.state(data.state, data.agent); }
  });
  socket.on("message", function (data) {
    var pane = data && panes[data.conversation_id];
    if (!pane) { return; }
    pane.render(data);
    if (data.author_type === "customer" && !pane.seen()) {
      pane.markUnread();
      if (document.hidden && window.helpdeskChatRing) { window.helpdeskChatRing(); }  /* the agent is in another tab */
    }
  });
  /* Back on the page, in the chat that has the focus: its lines are read. */
  document.addEventListener("visibilitychange", function () {
    Object.keys(panes).forEach(function (id) { if (panes[id].seen()) { panes[id].markRead(); } });
  });
  socket.on("typing", function (data) {
    var pane = data && panes[data.conversation_id];
    if (pane) { pane.typing(data.typing); }
  });

  var first = true;
  function connected() {
    connection.textContent = "";
    if (first) {
      first = false;  /* reopen the chats this agent is in (accept is idempotent for them) */
      JSON.parse(desk.getAttribute("data-mine") || "[]").forEach(function (id) { accept(id); });
    } else {
      Object.keys(panes).forEach(function (id) { panes[id].catchUp(); });
    }
  }
  socket.on("connect", connected);
  socket.on("disconnect", function () { connection.textContent = "Connection lost; reconnecting…"; });
  if (socket.connected) { connected(); }

  $("[data-presence]").addEventListener("change", function (event) {
    call("presence", { status: event.target.value }, function (ack) {
      connection.textContent = ack.error ? ack.error.message : "You are " + event.target.value + ".";
    });
  });
});
