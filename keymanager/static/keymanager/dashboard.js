// Refreshes the API dashboard in place every few seconds (without a full page reload).
// Pauses while the tab is hidden; shows when a refresh fails; stops when the session ends.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("api-dashboard");
    var state = document.getElementById("cq-refresh-state");
    if (!box || !window.fetch) return;
    var every = (parseInt(box.getAttribute("data-refresh-seconds"), 10) || 10) * 1000;
    var url = box.getAttribute("data-refresh-url");
    var busy = false, timer = null;

    function show(text, stale) {
      if (!state) return;
      state.textContent = text;
      state.className = stale ? "cq-stale" : "";
    }
    function refresh() {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "XMLHttpRequest" }, cache: "no-store" })
        .then(function (response) {
          if (response.redirected || response.status === 401 || response.status === 403) {
            clearInterval(timer);
            show("Your admin session ended: reload the page to log in again.", true);
            return null;
          }
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.text();
        })
        .then(function (html) {
          if (html === null) return;
          box.innerHTML = html;
          box.setAttribute("data-refreshed", String(Date.now()));
          if (window.cqCountdownTick) window.cqCountdownTick();
          show("", false);
        })
        .catch(function (err) { show("Refresh failed (" + err.message + "); retrying.", true); })
        .finally(function () { busy = false; });
    }
    timer = setInterval(refresh, every);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  });
})();
