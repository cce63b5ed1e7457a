/* The customer pages: article suggestions while typing a subject, and deflection beacons. */
(function () {
  "use strict";

  function debounce(fn, wait) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, wait);
    };
  }

  function csrfToken(form) {
    var field = form && form.querySelector("input[name='csrf_token']");
    return field ? field.value : "";
  }

  function setupSuggestions(box) {
    var input = document.getElementById(box.getAttribute("data-for"));
    var list = box.querySelector("ul");
    var form = input && input.form;
    if (!input || !list) { return; }
    var lastQuery = "";

    function recordDeflection(item, query) {
      var data = new FormData();
      data.append("csrf_token", csrfToken(form));
      data.append("query", query);
      if (item.id !== undefined && item.id !== null) { data.append("article_id", String(item.id)); }
      var url = box.getAttribute("data-deflect-url");
      if (navigator.sendBeacon) {
        navigator.sendBeacon(url, data);
      } else {
        fetch(url, { method: "POST", body: data, credentials: "same-origin", keepalive: true });
      }
    }

    function render(items, query) {
      list.textContent = "";
      items.slice(0, 5).forEach(function (item) {
        if (!item || !item.url || !item.title) { return; }
        var li = document.createElement("li");
        var link = document.createElement("a");
        link.href = item.url;
        link.textContent = item.title;
        link.target = "_blank";
        link.rel = "noopener";
        link.addEventListener("click", function () { recordDeflection(item, query); });
        li.appendChild(link);
        if (item.excerpt) {
          var p = document.createElement("p");
          p.textContent = item.excerpt;
          li.appendChild(p);
        }
        list.appendChild(li);
      });
      box.hidden = list.children.length === 0;
    }

    var lookUp = debounce(function () {
      var query = input.value.trim();
      if (query === lastQuery) { return; }
      lastQuery = query;
      if (query.length < 3) { render([], query); return; }
      var url = box.getAttribute("data-suggest-url") + "?q=" + encodeURIComponent(query);
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : { items: [] }; })
        .then(function (body) {
          if (query === lastQuery) { render((body && Array.isArray(body.items)) ? body.items : [], query); }
        })
        .catch(function () { render([], query); });
    }, 250);

    input.addEventListener("input", lookUp);
    if (input.value) { lookUp(); }
  }

  function setupSubmitOnce(form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type='submit']");
      if (button) { setTimeout(function () { button.disabled = true; }, 0); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-suggest-url]"), setupSuggestions);
    Array.prototype.forEach.call(document.querySelectorAll("form[data-submit-once]"), setupSubmitOnce);
  });
}());
