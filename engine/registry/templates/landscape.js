/* Filters for the landscape report: hide the items (and matrix rows and columns) that do not match.
   No dependencies; the same file is embedded in the standalone report and served by the web app. */
(function () {
  "use strict";
  var form = document.getElementById("landscape-filters");
  if (!form) { return; }
  var KEYS = ["status", "sg", "question", "aspect", "sector"];
  function has(list, word) { return (" " + list + " ").indexOf(" " + word + " ") >= 0; }
  function matches(el, f) {
    var d = el.dataset;
    if (f.sg && d.sg !== f.sg) { return false; }
    if (f.question && d.question !== f.question) { return false; }
    if (f.status && (f.status === "ongoing" ? d.ongoing !== "1" : d.status !== f.status)) { return false; }
    if (f.aspect && !has(d.aspects || "-", f.aspect)) { return false; }
    if (f.sector && !has(d.sectors || "cross_sector", f.sector)) { return false; }
    return true;
  }
  function apply() {
    var f = {};
    KEYS.forEach(function (k) { f[k] = form.elements[k].value; });
    var shown = {}, all = {};
    document.querySelectorAll("[data-item]").forEach(function (el) {
      var ok = matches(el, f);
      el.hidden = !ok;
      var id = el.textContent.replace(/^\W+/, "").trim();
      if (el.classList.contains("chip")) { all[id] = true; if (ok) { shown[id] = true; } }
    });
    document.querySelectorAll("tr[data-aspect]").forEach(function (tr) {
      tr.hidden = Boolean(f.aspect) && tr.dataset.aspect !== f.aspect;
    });
    document.querySelectorAll("[data-sector-col]").forEach(function (c) {
      c.hidden = Boolean(f.sector) && c.dataset.sectorCol !== f.sector;
    });
    var out = document.getElementById("landscape-count");
    if (out) { out.textContent = Object.keys(shown).length + " of " + Object.keys(all).length + " items shown"; }
  }
  form.hidden = false;
  form.addEventListener("change", apply);
  form.addEventListener("reset", function () { window.setTimeout(apply, 0); });
  apply();
}());
