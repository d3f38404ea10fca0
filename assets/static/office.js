// Quant — office pages (customers, leads, equipment, team, invoices,
// follow-ups). Progressive enhancement only: every page works without it.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // "Print" buttons (invoices): shown only when script can print.
    document.querySelectorAll("button[data-print]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () { window.print(); });
    });
  });
})();
