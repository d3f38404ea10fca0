// Quant — drag and drop on the dispatch board (/dispatch). Without this file
// every movable card still has its Move form, which does the same on the server.
//
// A card dropped on a technician's lane is booked there through the JSON API
// (POST /api/v1/work-orders/{id}/schedule: a draft is scheduled, a scheduled
// job re-booked); on the Unassigned lane a draft gets that tentative date and
// time (PATCH /api/v1/work-orders/{id}). Day view: the time is where the
// pointer is, in quarter hours; week view: the card keeps its time. A refusal
// (a clash with another booking, 409) is shown in the board's alert and the
// card goes back where it was; a success is announced and the board reloaded.
(function () {
  "use strict";
  var live = document.getElementById("board-status");
  var alertBox = document.getElementById("board-alert");
  var dragged = null;
  var over = null;
  var hint = null;

  function board() { return document.getElementById("board"); }
  function num(el, name, dflt) { var v = parseInt(el.getAttribute(name), 10); return isNaN(v) ? dflt : v; }
  function numberOf(card) { var n = card.querySelector(".num"); return n ? n.textContent.trim() : ""; }
  // Where a card is now: its lane's technician and its day.
  function placeOf(card) {
    var drop = card.closest(".drop");
    return { employee: drop ? drop.getAttribute("data-employee") || "" : "", date: drop ? drop.getAttribute("data-date") : "" };
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function hhmm(min) { return pad(Math.floor(min / 60)) + ":" + pad(min % 60); }

  function say(msg) {
    if (!live) { return; }
    live.textContent = "";
    window.setTimeout(function () { live.textContent = msg; }, 50);
  }
  function showAlert(msg) {
    if (!alertBox) { return; }
    alertBox.textContent = msg;
    alertBox.hidden = false;
  }
  function clearAlert() {
    if (alertBox) { alertBox.hidden = true; alertBox.textContent = ""; }
  }

  // A day-view lane laid out as a time line (on phones lanes are plain lists).
  function isTimeline(drop) {
    var b = board();
    return b && b.getAttribute("data-view") === "day" && drop.classList.contains("track") &&
      window.getComputedStyle(drop).display === "grid";
  }

  // The quarter hour under the pointer: {minute, x} (x in px from the lane's left edge).
  function timeAt(track, clientX) {
    var b = board();
    var start = num(b, "data-start", 420), quarters = num(b, "data-quarters", 48);
    var r = track.getBoundingClientRect(), cs = window.getComputedStyle(track);
    var padL = parseFloat(cs.paddingLeft) || 0, padR = parseFloat(cs.paddingRight) || 0;
    var width = Math.max(1, r.width - padL - padR);
    var q = Math.floor((clientX - r.left - padL) / width * quarters);
    q = Math.max(0, Math.min(quarters - 1, q));
    return { minute: start + q * 15, x: padL + q / quarters * width };
  }

  function laneName(drop) {
    var lane = drop.closest(".lane");
    return lane ? lane.getAttribute("data-name") : "";
  }

  function where(drop, e, card) {
    var t = { employee: drop.getAttribute("data-employee") || "", date: drop.getAttribute("data-date"), name: laneName(drop) };
    t.time = isTimeline(drop) ? hhmm(timeAt(drop, e.clientX).minute) : (card.getAttribute("data-time") || board().getAttribute("data-default-time") || "09:00");
    return t;
  }

  function showHint(track, e) {
    if (!hint) {
      hint = document.createElement("div");
      hint.className = "drop-hint";
      hint.setAttribute("aria-hidden", "true");
      hint.appendChild(document.createElement("span"));
    }
    var at = timeAt(track, e.clientX);
    if (hint.parentNode !== track) { track.appendChild(hint); }
    hint.style.left = at.x + "px";
    hint.firstChild.textContent = hhmm(at.minute);
  }

  function mark(drop) {
    if (over === drop) { return; }
    if (over) { over.classList.remove("over"); }
    over = drop;
    if (drop) { drop.classList.add("over"); }
  }

  function cleanup() {
    mark(null);
    if (hint && hint.parentNode) { hint.parentNode.removeChild(hint); }
    if (dragged) { dragged.classList.remove("dragging"); }
    dragged = null;
  }

  function describe(err) {
    var msg = (err && err.message) || "the server refused it";
    var fields = err && err.body && err.body.error && err.body.error.fields;
    if (fields) {
      var parts = [];
      Object.keys(fields).forEach(function (k) { parts.push(k + ": " + fields[k]); });
      if (parts.length) { msg += " (" + parts.join("; ") + ")"; }
    }
    return msg;
  }

  // Reloads the board and the tray from the server (the one source of truth).
  function refresh() {
    var b = board();
    var url = "/dispatch?view=" + encodeURIComponent(b.getAttribute("data-view")) +
      "&date=" + encodeURIComponent(b.getAttribute("data-date"));
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      ["board", "draft-tray"].forEach(function (key) {
        var sel = key === "board" ? "#board" : '[data-testid="draft-tray"]';
        var fresh = doc.querySelector(sel), old = document.querySelector(sel);
        if (fresh && old) { old.replaceWith(fresh); }
      });
    });
  }

  function request(card, t) {
    var id = card.getAttribute("data-id");
    if (!t.employee) {
      if (card.getAttribute("data-status") !== "draft") {
        return Promise.reject(new Error(numberOf(card) +
          " is booked with a technician: a scheduled job cannot be unassigned. Move it to another technician, or cancel it."));
      }
      return window.Quant.api("PATCH", "/api/v1/work-orders/" + encodeURIComponent(id),
        { scheduledDate: t.date, scheduledTime: t.time });
    }
    return window.Quant.api("POST", "/api/v1/work-orders/" + encodeURIComponent(id) + "/schedule",
      { scheduledDate: t.date, scheduledTime: t.time, assignedEmployeeId: t.employee });
  }

  function move(card, drop, t) {
    var now = placeOf(card);
    if (t.employee === now.employee && t.date === now.date && t.time === card.getAttribute("data-time")) { return; }
    clearAlert();
    var number = numberOf(card);
    var home = { parent: card.parentNode, next: card.nextSibling };
    drop.appendChild(card);
    card.classList.add("saving");
    card.setAttribute("aria-busy", "true");
    request(card, t).then(function () {
      say(number + " moved to " + (t.name || "Unassigned") + ", " + t.date + " " + t.time + ".");
      return refresh().catch(function () { window.location.reload(); });
    }, function (err) {
      card.classList.remove("saving");
      card.removeAttribute("aria-busy");
      if (home.next && home.next.parentNode === home.parent) {
        home.parent.insertBefore(card, home.next);
      } else {
        home.parent.appendChild(card);
      }
      showAlert("Not moved: " + describe(err));
    });
  }

  function dropOf(e) {
    return e.target instanceof Element ? e.target.closest(".drop") : null;
  }

  document.addEventListener("dragstart", function (e) {
    var card = e.target instanceof Element ? e.target.closest('.job[draggable="true"]') : null;
    if (!card || !board()) { return; }
    dragged = card;
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", numberOf(card));
    card.classList.add("dragging");
  });

  document.addEventListener("dragover", function (e) {
    if (!dragged) { return; }
    var drop = dropOf(e);
    mark(drop);
    if (!drop) { return; }
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    if (isTimeline(drop)) { showHint(drop, e); }
  });

  document.addEventListener("drop", function (e) {
    var drop = dropOf(e);
    if (!drop || !dragged) { return; }
    e.preventDefault();
    var card = dragged, t = where(drop, e, card);
    cleanup();
    move(card, drop, t);
  });

  document.addEventListener("dragend", cleanup);
})();
