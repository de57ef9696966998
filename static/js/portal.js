/* The portal's only script: hold countdowns, not pulling the page from under a person
   who is working in it, and the idle sign-out. No inline scripts anywhere (strict CSP). */
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
        el.textContent = el.getAttribute("data-ended") || "hold ending…";
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

  // A poll swaps the whole slot list. Hold it back while a person works in the list:
  // keyboard focus anywhere inside it (tabbing through offers and actions, they would
  // lose their place), a menu open, or a choice made there and not yet sent. Focus left
  // on a button by a mouse click does not hold it. Their own actions and "slotsChanged"
  // still refresh it, and focusable elements have stable ids, so htmx puts focus back.
  function isDirty(region) {
    return Array.prototype.some.call(region.querySelectorAll("select"), function (select) {
      var initial = 0;
      Array.prototype.forEach.call(select.options, function (option, i) {
        if (option.defaultSelected) { initial = i; }
      });
      return select.selectedIndex !== initial;
    });
  }

  function isWorkingIn(region) {
    var active = document.activeElement;
    if (!active || active === region || !region.contains(active)) { return false; }
    if (active.tagName === "SELECT") { return true; }
    try { return active.matches(":focus-visible"); } catch (e) { return true; }
  }

  function showPaused(paused) {
    var note = document.getElementById("poll-paused");
    if (note) { note.hidden = !paused; }
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var source = event.detail && event.detail.elt;
    var trigger = event.detail && event.detail.requestConfig &&
      event.detail.requestConfig.triggeringEvent;
    var polling = source && source.id === "slots" && (!trigger || trigger.type !== "slotsChanged");
    if (!polling) { return; }
    var busy = isWorkingIn(source) || isDirty(source);
    showPaused(busy);
    if (busy) { event.preventDefault(); }
  });

  // Shared front-desk screens: sign out after SESSION_IDLE_MINUTES (data-idle-minutes on
  // <body>) without a key press, click, touch or scroll wheel, also on pages that never ask
  // the server anything. Polls are not activity. Tabs share the clock through
  // localStorage, so an idle tab does not sign out a person working in another one.
  var idleMinutes = Number(document.body && document.body.getAttribute("data-idle-minutes"));
  var IDLE_KEY = "portal:last-activity";
  var lastActivity = Date.now();
  var idleTimer = null;

  function noteActivity() {
    var now = Date.now();
    if (now - lastActivity < 1000) { return; }
    lastActivity = now;
    try { localStorage.setItem(IDLE_KEY, String(now)); } catch (e) { /* private mode */ }
  }

  function lastSeen() {
    var shared = 0;
    try { shared = Number(localStorage.getItem(IDLE_KEY)) || 0; } catch (e) { /* none */ }
    return Math.max(lastActivity, shared);
  }

  function signOutIfIdle() {
    var form = document.getElementById("sign-out");
    if (!form || Date.now() - lastSeen() < idleMinutes * 60000) { return; }
    clearInterval(idleTimer);
    var next = document.createElement("input");
    next.type = "hidden";
    next.name = "next";
    next.value = location.pathname + location.search;
    form.appendChild(next);
    form.action = form.getAttribute("data-idle-action");
    form.submit();
  }

  if (idleMinutes > 0) {
    lastActivity = 0;
    noteActivity();  // loading a page is activity
    ["keydown", "pointerdown", "click", "wheel", "touchstart"].forEach(function (name) {
      document.addEventListener(name, noteActivity, { capture: true, passive: true });
    });
    idleTimer = setInterval(signOutIfIdle, 1000);
  }
})();
