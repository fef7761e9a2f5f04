// Small niceties only: every page works without this file.
(function () {
  "use strict";
  // One submission per click: disable the button and say what is happening.
  document.querySelectorAll("form[data-answer-form], form[data-launch]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
      var button = form.querySelector("button[type=submit]");
      if (button) {
        button.setAttribute("aria-disabled", "true");
        button.classList.add("is-busy");
        button.textContent = form.hasAttribute("data-launch") ? "Launching…" : "Sending answers…";
      }
    });
  });
  // Progress page: ask its status URL until the mission is ready, then go there (replacing the
  // progress page in history). Without this script the page refreshes itself (<noscript> meta).
  var transmitting = document.querySelector("[data-status-url]");
  if (transmitting) {
    var statusUrl = transmitting.getAttribute("data-status-url");
    var every = Number(transmitting.getAttribute("data-poll-ms")) || 1000;
    var failures = 0;
    var check = function () {
      if (!window.fetch) { window.location.reload(); return; }
      fetch(statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) { throw new Error("status " + response.status); }
          return response.json();
        })
        .then(function (data) {
          failures = 0;
          if (data.state !== "writing") { window.location.replace(data.url); return; }
          window.setTimeout(check, data.poll_ms || every);
        })
        .catch(function () {
          // A few failed checks in a row: reload, and let the server say what to show.
          failures += 1;
          if (failures >= 3) { window.location.reload(); return; }
          window.setTimeout(check, every * 2);
        });
    };
    window.setTimeout(check, every);
  }
  // Bring the error summary into view and focus so keyboard and screen-reader users hear it.
  var errors = document.getElementById("form-errors");
  if (errors) { errors.focus(); }
  // Keyboard shortcut on mission pages: 1-4 picks an option in the focused question.
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    var fieldset = document.activeElement && document.activeElement.closest && document.activeElement.closest("fieldset.question");
    if (!fieldset || !/^[1-4]$/.test(event.key)) { return; }
    var radios = fieldset.querySelectorAll("input[type=radio]");
    var radio = radios[Number(event.key) - 1];
    if (radio) { radio.checked = true; radio.focus(); event.preventDefault(); }
  });
})();
