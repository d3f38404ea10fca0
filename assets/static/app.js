// Quant — progressive enhancement shared by every page. Pages work without it.
// Served as a file (the Content-Security-Policy allows no inline script).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";

  // JSON API calls from the page: the session cookie plus the CSRF header.
  function api(method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET" && method !== "HEAD") { opts.headers["X-CSRF-Token"] = csrf; }
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        if (!r.ok) {
          var msg = (data && data.error && data.error.message) || ("HTTP " + r.status);
          var err = new Error(msg); err.status = r.status; err.body = data; throw err;
        }
        return data;
      });
    });
  }

  // Debounce helper.
  function debounce(fn, ms) {
    var t; return function () { var a = arguments, s = this; clearTimeout(t); t = setTimeout(function () { fn.apply(s, a); }, ms); };
  }

  // Instant search: <form data-instant> with an <input type="search">; results
  // live in the element named by data-instant (an id). The page itself is
  // fetched with the query and that element swapped in, so the server-rendered
  // list stays the one source of truth.
  function instantSearch(form) {
    var targetId = form.getAttribute("data-instant");
    var input = form.querySelector('input[type="search"]');
    if (!input || !targetId) { return; }
    var seq = 0;
    input.addEventListener("input", debounce(function () {
      var params = new URLSearchParams(new FormData(form));
      params.delete("page");
      var url = form.getAttribute("action") + "?" + params.toString();
      var mine = ++seq;
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
        if (mine !== seq) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById(targetId), old = document.getElementById(targetId);
        if (fresh && old) { old.replaceWith(fresh); history.replaceState(null, "", url); }
      }).catch(function () {});
    }, 200));
  }

  // Confirmation before destructive forms: <form data-confirm="Really?">.
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (f instanceof HTMLFormElement && f.hasAttribute("data-confirm") && !window.confirm(f.getAttribute("data-confirm"))) {
      e.preventDefault();
    }
  });

  // Selects that submit their form when changed: <select data-autosubmit>.
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el instanceof HTMLElement && el.hasAttribute("data-autosubmit") && el.form) { el.form.requestSubmit(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-instant]").forEach(instantSearch);
    // The main menu starts open on wide screens.
    var menu = document.querySelector("details.menu");
    if (menu && window.matchMedia("(min-width: 900px)").matches) { menu.open = true; }
  });

  window.Quant = { api: api, csrf: csrf, debounce: debounce };
})();
