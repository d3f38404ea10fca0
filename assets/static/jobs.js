// Quant — the new work order form: customer suggestions and the live job
// analysis. The form works without this file (a typed name picks the
// customer with exactly that name or creates a new one).
(function () {
  "use strict";
  if (!window.Quant) { return; }

  function suggestCustomers(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var hidden = document.getElementById("customer_id");
    if (!list || !hidden) { return; }
    var known = {}; // name (lower-cased) -> id of the first customer with it
    var seq = 0;

    function syncHidden() {
      var id = known[input.value.trim().toLowerCase()];
      // Keep an id only while the text is a suggested customer's name.
      hidden.value = id || "";
      // An existing customer keeps their own address.
      var addr = document.querySelector("[data-new-customer]");
      if (addr) { addr.hidden = !!id; }
    }

    var fetchSuggestions = window.Quant.debounce(function () {
      var q = input.value.trim();
      if (q.length < 2) { return; }
      var mine = ++seq;
      window.Quant.api("GET", input.getAttribute("data-suggest") + "?q=" + encodeURIComponent(q) + "&limit=8")
        .then(function (page) {
          if (mine !== seq || !page || !page.data) { return; }
          list.textContent = "";
          page.data.forEach(function (c) {
            var key = c.name.trim().toLowerCase();
            if (!known[key]) { known[key] = c.id; }
            var o = document.createElement("option");
            o.value = c.name;
            var where = c.addresses && c.addresses[0] ? [c.addresses[0].line1, c.addresses[0].city].filter(Boolean).join(", ") : "";
            o.label = [c.company, where, c.phone].filter(Boolean).join(" · ");
            list.appendChild(o);
          });
          syncHidden();
        })
        .catch(function () { /* suggestions are optional */ });
    }, 180);

    // A prefilled customer (from ?customer_id=) keeps its id until the name changes.
    if (hidden.value) { known[input.value.trim().toLowerCase()] = hidden.value; }
    input.addEventListener("input", function () { syncHidden(); fetchSuggestions(); });
    input.addEventListener("change", syncHidden);
  }

  function liveAnalysis(form) {
    var url = form.getAttribute("data-analysis-url");
    var customer = form.querySelector("#customer_name");
    var service = form.querySelector("#service_type");
    var priority = form.querySelector("#priority");
    if (!url || !customer || !service || !priority) { return; }
    var seq = 0, last = "";
    var refresh = window.Quant.debounce(function () {
      if (!customer.value.trim() || !service.value.trim()) { return; }
      var q = "?service_type=" + encodeURIComponent(service.value.trim()) + "&priority=" + encodeURIComponent(priority.value);
      if (q === last) { return; }
      last = q;
      var mine = ++seq;
      fetch(url + q, { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
        .then(function (html) {
          if (mine !== seq) { return; }
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("analysis");
          var old = document.getElementById("analysis");
          if (fresh && old) { old.replaceWith(fresh); }
        })
        .catch(function () { last = ""; });
    }, 300);
    [customer, service, priority].forEach(function (el) {
      el.addEventListener("input", refresh);
      el.addEventListener("change", refresh);
    });
    refresh();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var input = document.querySelector("input[data-suggest]");
    if (input) { suggestCustomers(input); }
    var form = document.querySelector("form[data-analysis-url]");
    if (form) { liveAnalysis(form); }
  });
})();
