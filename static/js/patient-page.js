/*
 * The patient record: the header's "Patients Know Best" line says what the PKB panel says
 * (sharing, and the invitation when shared), copied from the panel each time htmx loads or
 * replaces it, so the header follows an opt-in or a withdrawal without a reload and without a
 * second request. The panel belongs to the PKB bridge; rms reads only its visible text: the
 * <dt>/<dd> pairs of its first list ("Sharing", "Invitation"). Without JavaScript the header
 * keeps its link to the panel.
 */
(function () {
  "use strict";

  var WANTED = ["Sharing", "Invitation"];

  function text(dd) {
    // The words of the entry, without any form (the resend button) it carries.
    var copy = dd.cloneNode(true);
    copy.querySelectorAll("form, button, .text-body-secondary").forEach(function (node) {
      node.remove();
    });
    return copy.textContent.replace(/\s+/g, " ").trim();
  }

  function mirror() {
    var target = document.querySelector("[data-pkb-summary]");
    var panel = document.querySelector(".pkb-panel");
    if (!target || !panel) {
      return;
    }
    var list = panel.querySelector("dl");
    if (!list) {
      return;
    }
    var parts = [];
    list.querySelectorAll("dt").forEach(function (dt) {
      var label = dt.textContent.trim();
      var dd = dt.nextElementSibling;
      if (WANTED.indexOf(label) !== -1 && dd && dd.tagName === "DD") {
        var words = text(dd);
        if (words) {
          parts.push(label === "Sharing" ? words : label + ": " + words);
        }
      }
    });
    if (parts.length) {
      target.textContent = parts.join(" · ");
    }
  }

  function start() {
    mirror();
    if (window.htmx) {
      window.htmx.onLoad(mirror);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
