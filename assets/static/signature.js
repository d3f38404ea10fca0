// Quant — the signature pad on a job page: draw with a finger, pen or mouse
// (pointer events) on a canvas; "Save signature" uploads it as a PNG, the
// work order's signature attachment. Completing the job with an unsaved
// signature saves it first. Without JavaScript the pad stays hidden and the
// customer's typed name can be recorded instead.
(function () {
  "use strict";

  function setup(box) {
    var canvas = box.querySelector("canvas");
    var status = box.querySelector("[data-signature-status]");
    var url = box.getAttribute("data-upload-url");
    if (!canvas || !canvas.getContext || !url || !window.Quant) { return; }
    box.hidden = false;
    var ctx = canvas.getContext("2d");
    var drawing = false, dirty = false, saved = false, last = null;

    function say(text) { if (status) { status.textContent = text; } }

    function reset() {
      // The canvas keeps its drawing-buffer size; CSS scales it to the box.
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.lineWidth = Math.max(2, canvas.width / 200);
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.strokeStyle = "#10233f";
      dirty = false; saved = false;
    }

    function point(e) {
      var r = canvas.getBoundingClientRect();
      return { x: (e.clientX - r.left) * canvas.width / r.width, y: (e.clientY - r.top) * canvas.height / r.height };
    }

    canvas.addEventListener("pointerdown", function (e) {
      e.preventDefault();
      drawing = true;
      last = point(e);
      if (canvas.setPointerCapture) { try { canvas.setPointerCapture(e.pointerId); } catch (err) { /* ignore */ } }
      ctx.beginPath(); ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, Math.PI * 2); ctx.fillStyle = ctx.strokeStyle; ctx.fill();
      dirty = true; saved = false;
    });
    canvas.addEventListener("pointermove", function (e) {
      if (!drawing) { return; }
      e.preventDefault();
      var p = point(e);
      ctx.beginPath(); ctx.moveTo(last.x, last.y); ctx.lineTo(p.x, p.y); ctx.stroke();
      last = p;
    });
    ["pointerup", "pointercancel", "pointerleave"].forEach(function (t) {
      canvas.addEventListener(t, function () { drawing = false; });
    });

    function save() {
      if (!dirty) { say("Draw the signature first."); return Promise.reject(new Error("empty")); }
      say("Saving…");
      return new Promise(function (resolve, reject) {
        canvas.toBlob(function (blob) {
          if (!blob) { reject(new Error("no image")); return; }
          fetch(url, {
            method: "POST", credentials: "same-origin", body: blob,
            headers: { "Content-Type": "image/png", "X-CSRF-Token": window.Quant.csrf, "Accept": "application/json" },
          }).then(function (r) {
            return r.json().catch(function () { return null; }).then(function (body) {
              if (!r.ok) { throw new Error((body && body.error && body.error.message) || ("HTTP " + r.status)); }
              return body;
            });
          }).then(function (att) {
            saved = true;
            say("Signature saved.");
            box.setAttribute("data-saved", att && att.id ? att.id : "yes");
            resolve(att);
          }, function (err) { say("The signature was not saved: " + err.message); reject(err); });
        }, "image/png");
      });
    }

    box.querySelector("[data-signature-clear]").addEventListener("click", function () { reset(); say("Cleared."); });
    box.querySelector("[data-signature-save]").addEventListener("click", function () { save().catch(function () {}); });

    // Completing with a drawn but unsaved signature saves it first.
    var complete = document.querySelector("form[data-complete-form]");
    if (complete) {
      complete.addEventListener("submit", function (e) {
        if (!dirty || saved || e.defaultPrevented) { return; }
        e.preventDefault();
        save().then(function () { complete.submit(); }, function () { /* stay; the status says why */ });
      });
    }
    reset();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-signature-pad]").forEach(setup);
  });
})();
