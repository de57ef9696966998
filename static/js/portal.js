/* The portal's only script: hold countdowns, and not pulling the page from under a
   person who is choosing something. No inline scripts anywhere (strict CSP). */
(function () {
  "use strict";

  // Server and browser clocks differ; the polled list says what time the server thinks it is.
  var skewMs = 0;

  function readServerClock() {
    var holder = document.querySelector("[data-server-now]");
    if (holder) {
      skewMs = Number(holder.getAttribute("data-server-now")) * 1000 - Date.now();
    }
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function tick() {
    var now = Date.now() + skewMs;
    document.querySelectorAll(".countdown[data-until]").forEach(function (el) {
      var left = Math.round((Number(el.getAttribute("data-until")) * 1000 - now) / 1000);
      if (left <= 0) {
        el.textContent = "hold ending…";
        el.classList.add("ending");
        return;
      }
      el.textContent = Math.floor(left / 60) + ":" + pad(left % 60) + " left";
      el.classList.toggle("ending", left < 60);
    });
  }

  function refresh() { readServerClock(); tick(); }

  document.addEventListener("DOMContentLoaded", refresh);
  document.addEventListener("htmx:afterSettle", refresh);
  setInterval(tick, 1000);

  // A poll would replace a <select> someone has open; skip polls while they choose.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var source = event.detail && event.detail.elt;
    var trigger = event.detail && event.detail.requestConfig &&
      event.detail.requestConfig.triggeringEvent;
    var active = document.activeElement;
    var polling = source && source.id === "slots" && (!trigger || trigger.type !== "slotsChanged");
    if (polling && active && source.contains(active) && active.tagName === "SELECT") {
      event.preventDefault();
    }
  });
})();
