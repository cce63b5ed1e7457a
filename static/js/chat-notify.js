/* Chat requests on every console page: a count in the nav and a sound when a chat is offered to you.
   The chat desk (chat-desk.js) reuses this page's /agent socket and the sound (window.helpdeskChatRing). */
(function () {
  "use strict";
  if (typeof window.io !== "function") { return; }
  var badge = document.getElementById("chat-requests-badge");
  if (!badge) { return; }
  var socket = window.helpdeskAgentSocket = window.helpdeskAgentSocket || window.io("/agent");
  var waiting = {};
  try { JSON.parse(badge.getAttribute("data-waiting") || "[]").forEach(function (id) { waiting[id] = true; }); }
  catch (e) { /* start from zero */ }
  var sound = null;

  function show() {
    var n = Object.keys(waiting).length;
    badge.textContent = String(n);
    badge.hidden = n === 0;
    badge.setAttribute("aria-label", n === 1 ? "1 chat request" : n + " chat requests");
  }

  function ring() {
    try {
      sound = sound || new Audio(badge.getAttribute("data-sound"));
      sound.currentTime = 0;
      var played = sound.play();
      if (played && played.catch) { played.catch(function () { /* no sound before the first click */ }); }
    } catch (e) { /* audio unavailable: the count still shows */ }
  }

  window.helpdeskChatRing = ring;

  socket.on("chat_request", function (data) {
    if (!data || waiting[data.conversation_id]) { return; }
    waiting[data.conversation_id] = true;
    show();
    ring();
  });
  socket.on("chat_state", function (data) {
    if (!data || data.state === "waiting") { return; }
    delete waiting[data.conversation_id];
    show();
  });
  show();
})();
