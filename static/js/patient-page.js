/*
 * The patient record: its summary and its tabs.
 *
 * The summary's "Patients Know Best" line says what the PKB panel says (sharing, consent, and
 * the invitation when shared), and its "Open work items" line counts the work items panel,
 * copied from each panel each time htmx loads or replaces it, so the summary follows an
 * opt-in, a withdrawal or a completed item without a reload and without a second request.
 * The panels belong to the PKB bridge and the worklists; rms reads only their visible text:
 * the <dt>/<dd> pairs of the PKB panel's first list, and the work items' priority badges.
 * Without JavaScript the summary keeps its links to the panels.
 */
(function () {
  "use strict";

  var WANTED = ["Sharing", "Consent", "Invitation"];

  function text(dd) {
    // The words of the entry, without any form (the resend button) it carries.
    var copy = dd.cloneNode(true);
    copy.querySelectorAll("form, button, .text-body-secondary").forEach(function (node) {
      node.remove();
    });
    return copy.textContent.replace(/\s+/g, " ").trim();
  }

  function mirrorPkb() {
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

  function mirrorItems() {
    var target = document.querySelector("[data-items-summary]");
    var panel = document.querySelector(".work-items-panel");
    if (!target || !panel) {
      return;
    }
    var items = panel.querySelectorAll("article.work-item");
    var counts = {};
    var order = [];
    items.forEach(function (item) {
      var badge = item.querySelector(".badge");
      var priority = badge ? badge.textContent.trim() : "";
      if (priority && !(priority in counts)) {
        counts[priority] = 0;
        order.push(priority);
      }
      if (priority) {
        counts[priority] += 1;
      }
    });
    var words = items.length === 0 ? "None open" : items.length + " open";
    if (order.length) {
      // The panel lists the most urgent first: its badges come in that order.
      words +=
        " (" +
        order
          .map(function (p) {
            return counts[p] + " " + p.toLowerCase();
          })
          .join(", ") +
        ")";
    }
    target.replaceChildren();
    var link = document.createElement("a");
    link.href = "#work-items-heading";
    link.textContent = words;
    target.appendChild(link);
  }

  function mirror() {
    mirrorPkb();
    mirrorItems();
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
