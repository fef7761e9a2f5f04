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
  // Keyboard shortcut on mission and review pages: A-D (the options' labels) or 1-4 picks an
  // option of the question holding the focus, or of the page's only question. The hint that
  // says so is shown only when this script runs (the keys need it).
  var KEYS = { a: 0, b: 1, c: 2, d: 3, "1": 0, "2": 1, "3": 2, "4": 3 };
  document.querySelectorAll("[data-keyboard-hint]").forEach(function (hint) { hint.hidden = false; });
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    var index = KEYS[String(event.key).toLowerCase()];
    if (index === undefined) { return; }
    var active = document.activeElement;
    if (active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName) && active.type !== "radio") { return; }
    var fieldset = active && active.closest && active.closest("fieldset.question");
    if (!fieldset) {
      var all = document.querySelectorAll("fieldset.question");
      if (all.length !== 1) { return; }
      fieldset = all[0];
    }
    var radio = fieldset.querySelectorAll("input[type=radio]")[index];
    if (radio) { radio.checked = true; radio.focus(); event.preventDefault(); }
  });
  // Countdowns (next daily, end of the league week): the server wrote the time left; this
  // keeps it ticking.
  document.querySelectorAll("[data-countdown]").forEach(function (node) {
    var end = Date.now() + 1000 * Number(node.getAttribute("data-countdown"));
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var tick = function () {
      var left = Math.max(0, Math.round((end - Date.now()) / 1000));
      var d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600), m = Math.floor(left % 3600 / 60), s = left % 60;
      node.textContent = (d ? d + " d " : "") + (d || h ? h + " h " : "") + pad(m) + " min " + pad(s) + " s";
      if (left > 0) { window.setTimeout(tick, 1000); }
    };
    tick();
  });
  // Share card: the copy button copies the plain text beside it (which can also be selected
  // and copied by hand, with or without this script).
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("data-copy-status"));
    if (!source) { return; }
    button.hidden = false;
    var say = function (text) { if (status) { status.textContent = text; } };
    button.addEventListener("click", function () {
      var text = source.value || source.textContent;
      var fallback = function () {
        source.focus();
        source.select();
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        say(ok ? "Copied. Paste it anywhere." : "Selected: press Ctrl+C (or Cmd+C) to copy.");
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { say("Copied. Paste it anywhere."); }, fallback);
      } else {
        fallback();
      }
    });
  });
  // After a review, the feedback holds the focus: read first, then Tab on to the next question.
  var feedback = document.getElementById("review-feedback");
  if (feedback && !errors) { feedback.focus(); }
})();
