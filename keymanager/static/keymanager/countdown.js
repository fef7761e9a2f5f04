// Live cooldown countdowns: every element with data-until="<ISO time>" shows the time left.
(function () {
  "use strict";
  function format(ms) {
    if (ms <= 0) return "ending now";
    var s = Math.ceil(ms / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    s = s % 60;
    if (h) return h + "h " + m + "m left";
    if (m) return m + "m " + (s < 10 ? "0" : "") + s + "s left";
    return s + "s left";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-until]").forEach(function (el) {
      var until = Date.parse(el.getAttribute("data-until"));
      if (!isNaN(until)) el.textContent = format(until - now);
    });
  }
  window.cqCountdownTick = tick;
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
})();
