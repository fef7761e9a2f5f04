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
