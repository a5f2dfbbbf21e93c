// crmsync web UI: the only script. Pages work without it; it adds the live
// progress of a running sync (server-sent events) and the completion dialog,
// and moves a Microsoft 365 sign-in on once it is done.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var box = document.querySelector("[data-signin]");
  if (!box || !window.fetch || !box.querySelector("[data-waiting]")) return;
  var poll = function () {
    fetch(box.getAttribute("data-signin"), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.state === "pending") { setTimeout(poll, 2000); return; }
        window.location.assign(box.getAttribute("data-next"));
      })
      .catch(function () { setTimeout(poll, 5000); });
  };
  setTimeout(poll, 2000);
});
document.addEventListener("DOMContentLoaded", function () {
  var box = document.querySelector("[data-progress]");
  if (!box || !window.EventSource) return;
  var bar = box.querySelector("progress");
  var text = function (name, v) { var el = box.querySelector("[data-" + name + "]"); if (el) el.textContent = v; };
  var es = new EventSource(box.getAttribute("data-progress"));
  es.addEventListener("progress", function (ev) {
    var p = JSON.parse(ev.data);
    var pct = p.total > 0 ? Math.floor(p.done * 100 / p.total) : 0;
    bar.value = pct;
    text("pct", pct + " %");
    text("done", p.done + " / " + p.total);
    text("rate", p.rate);
    text("eta", p.eta);
  });
  es.addEventListener("done", function (ev) {
    es.close();
    var s = JSON.parse(ev.data);
    bar.value = 100;
    text("pct", "100 %");
    var dlg = document.getElementById("summary");
    if (!dlg) return;
    Object.keys(s).forEach(function (k) {
      var el = dlg.querySelector("[data-count='" + k + "']");
      if (el) el.textContent = s[k];
    });
    if (dlg.open) return;
    if (dlg.showModal) dlg.showModal(); else dlg.setAttribute("open", "");
    var ok = dlg.querySelector("button, a");
    if (ok) ok.focus();
  });
});
