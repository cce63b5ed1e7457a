/* On a ticket: search the knowledge base and insert "Title: URL" into the reply. */
(function () {
  "use strict";

  var box = document.querySelector("[data-kb-lookup]");
  if (!box) { return; }
  var input = box.querySelector("[data-kb-lookup-input]");
  var results = box.querySelector("[data-kb-lookup-results]");
  var timer = null;
  var asked = 0;

  function insert(text) {
    var area = document.getElementById("reply-body");
    if (!area) { return; }
    var tab = document.querySelector("[data-tab='reply']");
    if (tab && tab.getAttribute("aria-selected") !== "true") { tab.click(); }
    var start = area.selectionStart || 0;
    var end = area.selectionEnd || 0;
    var before = area.value.slice(0, start);
    var glue = before && !/\s$/.test(before) ? "\n" : "";
    area.value = before + glue + text + area.value.slice(end);
    var caret = (before + glue + text).length;
    area.focus();
    area.setSelectionRange(caret, caret);
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function show(items) {
    results.textContent = "";
    if (!items.length) {
      var none = document.createElement("li");
      none.className = "hint";
      none.textContent = "No published article matches.";
      results.appendChild(none);
      return;
    }
    items.forEach(function (item) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "canned-item";
      button.title = "Insert a link to this article into the reply";
      button.textContent = item.title;
      button.addEventListener("click", function () { insert(item.title + ": " + item.url); });
      li.appendChild(button);
      results.appendChild(li);
    });
  }

  function lookup() {
    var q = input.value.trim();
    var mine = ++asked;
    if (q.length < 2) { results.textContent = ""; return; }
    var url = box.getAttribute("data-kb-lookup") + "?q=" + encodeURIComponent(q) +
      "&lang=" + encodeURIComponent(box.getAttribute("data-lang") || "en");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { items: [] }; })
      .then(function (data) { if (mine === asked) { show(data.items || []); } })
      .catch(function () { /* leave the list as it was */ });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(lookup, 200);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); lookup(); }
  });
})();
