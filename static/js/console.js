/* The agent console's small behaviours: keyboard, composer, caller lookup, live updates.
   Everything degrades to plain links and forms when this file does not run. */
(function () {
  "use strict";

  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };

  function typingInField(event) {
    var t = event.target;
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  }

  /* Lists: j/k to move, Enter or o to open, click anywhere on a row ------------------------------------- */
  var rows = $$("[data-list] tbody tr[data-href]");
  var selected = -1;

  function select(index) {
    if (!rows.length) { return; }
    index = Math.max(0, Math.min(rows.length - 1, index));
    if (rows[selected]) { rows[selected].classList.remove("is-selected"); }
    selected = index;
    rows[index].classList.add("is-selected");
    rows[index].scrollIntoView({ block: "nearest" });
    var link = $("a.row-link", rows[index]);
    if (link) { link.focus({ preventScroll: true }); }
  }

  rows.forEach(function (row, index) {
    row.addEventListener("click", function (event) {
      if (event.target.closest("a, button, input, select, label")) { return; }
      window.location.href = row.getAttribute("data-href");
    });
    row.addEventListener("focusin", function () {
      if (rows[selected]) { rows[selected].classList.remove("is-selected"); }
      selected = index;
      row.classList.add("is-selected");
    });
  });

  /* Composer: tabs, canned responses ------------------------------------------------------------------- */
  var composer = $("[data-tabs]");

  function showTab(name, focus) {
    if (!composer) { return; }
    $$("[data-tab]", composer).forEach(function (tab) {
      var on = tab.getAttribute("data-tab") === name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      $("#" + tab.getAttribute("aria-controls")).hidden = !on;
    });
    if (focus) { $("#pane-" + name + " textarea").focus(); }
  }

  if (composer) {
    composer.classList.add("tabs-ready");
    var startTab = $("#pane-note [aria-invalid]") ? "note" : "reply";
    showTab(startTab, false);
    $$("[data-tab]", composer).forEach(function (tab) {
      tab.addEventListener("click", function () { showTab(tab.getAttribute("data-tab"), true); });
      tab.addEventListener("keydown", function (event) {
        if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
          var next = tab.getAttribute("data-tab") === "reply" ? "note" : "reply";
          showTab(next, false);
          $("[data-tab='" + next + "']", composer).focus();
        }
      });
    });
  }

  $$("[data-canned]").forEach(function (button) {
    button.addEventListener("click", function () {
      var area = $("#reply-body");
      if (!area) { return; }
      showTab("reply", false);
      var text = button.getAttribute("data-canned");
      var start = area.selectionStart || 0;
      var end = area.selectionEnd || 0;
      var before = area.value.slice(0, start);
      var glue = before && !/\n$/.test(before) ? "\n\n" : "";
      area.value = before + glue + text + area.value.slice(end);
      var caret = (before + glue + text).length;
      area.focus();
      area.setSelectionRange(caret, caret);
      area.dispatchEvent(new Event("input", { bubbles: true }));
    });
  });

  /* Keyboard shortcuts ----------------------------------------------------------------------------------- */
  document.addEventListener("keydown", function (event) {
    if (event.metaKey || event.ctrlKey || event.altKey) { return; }
    if (typingInField(event)) {
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    var target;
    switch (event.key) {
      case "/":
        target = $("[data-shortcut='/']");
        if (target) { event.preventDefault(); target.focus(); target.select(); }
        break;
      case "r":
        if ($("#reply-body")) { event.preventDefault(); showTab("reply", true); if (!composer) { $("#reply-body").focus(); } }
        break;
      case "n":
        if ($("#note-body")) { event.preventDefault(); showTab("note", true); if (!composer) { $("#note-body").focus(); } }
        break;
      case "j":
        if (rows.length) { event.preventDefault(); select(selected + 1); }
        break;
      case "k":
        if (rows.length) { event.preventDefault(); select(selected - 1); }
        break;
      case "o":
      case "Enter":
        if (rows[selected] && event.target === document.body) {
          event.preventDefault();
          window.location.href = rows[selected].getAttribute("data-href");
        }
        break;
    }
  });

  $$("select[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });

  /* Log a call: show the caller as the number is typed ------------------------------------------------- */
  var phone = $("[data-phone-lookup]");
  var panel = $("#caller-panel");
  if (phone && panel) {
    var timer = null;
    var last = null;
    var lookup = function () {
      var value = phone.value.trim();
      if (value === last) { return; }
      last = value;
      fetch(panel.getAttribute("data-lookup") + "?phone=" + encodeURIComponent(value), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
        .then(function (html) {
          if (value !== last) { return; }
          panel.innerHTML = html;  /* server-rendered, autoescaped */
          var known = $("[data-known]", panel);
          $("#new-caller").hidden = !!(known && known.getAttribute("data-known") === "1");
        })
        .catch(function () { /* the Look up button still works */ });
    };
    phone.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(lookup, 300); });
    phone.addEventListener("paste", function () { setTimeout(lookup, 0); });
  }

  /* Admin: the acknowledgement preview follows the text as it is typed ---------------------------------- */
  var preview = $("#ack-preview");
  if (preview) {
    var sample = {};
    try { sample = JSON.parse(preview.getAttribute("data-sample") || "{}"); } catch (e) { sample = {}; }
    var fill = function (text) {
      return text.replace(/\{(\w+)\}/g, function (whole, name) {
        return Object.prototype.hasOwnProperty.call(sample, name) ? sample[name] : whole;
      });
    };
    var subjectField = $("[data-ack-subject]");
    var bodyField = $("[data-ack-body]");
    var refresh = function () {
      if (subjectField) { $("[data-preview-subject]", preview).textContent = fill(subjectField.value); }
      if (bodyField) { $("[data-preview-body]", preview).textContent = fill(bodyField.value); }
    };
    [subjectField, bodyField].forEach(function (el) { if (el) { el.addEventListener("input", refresh); } });
  }

  /* Live updates over Socket.IO ------------------------------------------------------------------------ */
  if (typeof window.io !== "function" || !$(".topbar .me")) { return; }
  var banner = $("#live-banner");
  var ticketBox = $("[data-ticket]");
  var reference = ticketBox ? ticketBox.getAttribute("data-ticket") : null;
  var myEmail = ticketBox ? ticketBox.getAttribute("data-me") : null;
  var names = {};
  try { names = ticketBox ? JSON.parse(ticketBox.getAttribute("data-agents") || "{}") : {}; } catch (e) { names = {}; }

  function showBanner(text) {
    banner.textContent = text + " ";
    var reload = document.createElement("button");
    reload.type = "button";
    reload.className = "btn btn-small";
    reload.textContent = "Reload";
    reload.addEventListener("click", function () { window.location.reload(); });
    banner.appendChild(reload);
    banner.hidden = false;
  }

  function label(value) { return value ? value.charAt(0).toUpperCase() + value.slice(1) : ""; }

  function updateRow(row, ticket) {
    var status = $("[data-field=status] .badge", row);
    if (status) { status.className = "badge status status-" + ticket.status; status.textContent = label(ticket.status); }
    var priority = $("[data-field=priority] .priority", row);
    if (priority) { priority.className = "priority priority-" + ticket.priority; priority.textContent = label(ticket.priority); }
    var assignee = $("[data-field=assignee]", row);
    if (assignee) { assignee.textContent = ticket.assignee || "Unassigned"; }
    var team = $("[data-field=team]", row);
    if (team) { team.textContent = ticket.team || "—"; }
    var updated = $("[data-field=updated] time", row);
    if (updated) { updated.textContent = "just now"; }
    row.classList.remove("is-flash");
    void row.offsetWidth;
    row.classList.add("is-flash");
  }

  // One /agent connection per page, shared with the chat scripts (each counts as an open console).
  var socket = window.helpdeskAgentSocket = window.helpdeskAgentSocket || window.io("/agent");
  var fresh = 0;

  /* SLA notices: a toast, and the breached ticket's badge turns red wherever it is shown. */
  var toasts = null;

  function toast(text, href) {
    if (!toasts) {
      toasts = document.createElement("div");
      toasts.className = "toasts";
      toasts.setAttribute("role", "status");
      toasts.setAttribute("aria-live", "polite");
      document.body.appendChild(toasts);
    }
    var item = document.createElement("div");
    item.className = "toast toast-breach";
    var link = document.createElement(href ? "a" : "span");
    if (href) { link.href = href; }
    link.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", function () { item.remove(); });
    item.appendChild(link);
    item.appendChild(close);
    toasts.appendChild(item);
    setTimeout(function () { item.remove(); }, 15000);
  }

  function markBreached(ref) {
    var badges = [];
    var row = $("tr[data-reference='" + ref + "'] [data-field=sla]");
    if (row) {
      var badge = $("[data-sla]", row);
      if (!badge) { badge = document.createElement("span"); badge.setAttribute("data-sla", ""); row.appendChild(badge); }
      badges.push(badge);
    }
    if (ref === reference) { badges = badges.concat($$(".ticket-head [data-sla], #sla-title [data-sla]")); }
    badges.forEach(function (badge) {
      badge.className = "sla sla-breach";
      badge.textContent = "Breached just now";
    });
  }

  socket.on("notification", function (data) {
    if (!data || !data.message) { return; }
    var href = data.reference ? "/console/tickets/" + encodeURIComponent(data.reference) : null;
    toast(data.message, href);
    if (data.kind === "sla_breach" && data.reference) { markBreached(data.reference); }
  });

  socket.on("ticket", function (data) {
    if (!data || !data.reference) { return; }
    if (reference) {
      if (data.reference === reference) { showBanner("This ticket was updated (" + data.change + ")."); }
      return;
    }
    var row = $("tr[data-reference='" + data.reference + "']");
    if (row && data.ticket) {
      updateRow(row, data.ticket);
    } else if (rows.length || $(".empty")) {
      fresh += 1;
      showBanner(fresh === 1 ? "1 ticket is new or changed." : fresh + " tickets are new or changed.");
    }
  });

  if (!reference) { return; }
  var viewersBox = $("#viewers");
  var typing = false;
  var typingTimer = null;

  function renderViewers(viewers) {
    var seen = {};
    var parts = [];
    (viewers || []).forEach(function (v) {
      if (v.agent === myEmail) { return; }
      var name = names[v.agent] || v.agent;
      if (seen[name] && !v.typing) { return; }
      seen[name] = true;
      parts.push(name + (v.typing ? " is typing…" : " is viewing"));
    });
    viewersBox.textContent = parts.join(" · ");
  }

  function announce() {
    socket.emit("view", { reference: reference, typing: typing }, function (ack) {
      if (ack && ack.viewers) { renderViewers(ack.viewers); }
    });
  }

  socket.on("connect", announce);
  socket.on("viewers", function (data) {
    if (data && data.reference === reference) { renderViewers(data.viewers); }
  });
  $$("[data-typing]").forEach(function (area) {
    area.addEventListener("input", function () {
      if (!typing) { typing = true; announce(); }
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { typing = false; announce(); }, 4000);
    });
  });
  /* Leaving needs no message: the server announces it when this socket disconnects. */
})();
