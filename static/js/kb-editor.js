/* Knowledge base editor: live Markdown preview (rendered and sanitised by the server) and the related-article filter. */
(function () {
  "use strict";

  var editor = document.querySelector("[data-kb-editor]");
  if (editor) {
    var source = editor.querySelector("[data-kb-source]");
    var preview = editor.querySelector("[data-kb-preview]");
    var form = source && source.form;
    var token = form && form.querySelector("input[name='csrf_token']");
    var timer = null;
    var sent = 0;

    var render = function () {
      var mine = ++sent;
      var body = new FormData();
      body.append("body", source.value);
      fetch(editor.getAttribute("data-preview-url"), {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: token ? { "X-CSRFToken": token.value } : {}
      }).then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      }).then(function (data) {
        // The server returns HTML already sanitised with the same allow-list as the public page.
        if (mine === sent) { preview.innerHTML = data.html || ""; }
      }).catch(function () { /* keep the last preview */ });
    };

    if (source && preview) {
      source.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(render, 300);
      });
    }
  }

  var filter = document.querySelector("[data-kb-filter]");
  var picker = document.querySelector("[data-kb-picker]");
  if (filter && picker) {
    filter.addEventListener("input", function () {
      var wanted = filter.value.trim().toLowerCase();
      Array.prototype.forEach.call(picker.querySelectorAll("li"), function (item) {
        var checked = item.querySelector("input").checked;
        item.hidden = !checked && wanted !== "" && item.textContent.toLowerCase().indexOf(wanted) < 0;
      });
    });
    filter.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); }
    });
  }
})();
