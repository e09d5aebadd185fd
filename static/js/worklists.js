/*
 * The worklist's small helpers (templates/worklists/worklist.html). No inline script: a
 * Content Security Policy can forbid them.
 *
 * - "Tick all on this page" ticks (or, when all are ticked, unticks) every row's checkbox
 *   for the bulk bar.
 * - An action bar marked data-when-ticked shows only while one of its items is ticked: the
 *   items inside its data-tick-scope (a patient's row), or the checkboxes that join it by
 *   their form attribute (the bulk bar of the list by item). Without JavaScript it always
 *   shows.
 * - A row's action refused with 403 (the user may no longer act on the item) still replaces
 *   the row, which says why: htmx leaves error responses unswapped unless told.
 */
(function () {
  "use strict";

  var ITEM_BOXES = 'input[type="checkbox"][name="items"]';

  function anyTicked(boxes) {
    return Array.prototype.some.call(boxes, function (box) {
      return box.checked;
    });
  }

  function showActionBars() {
    document.querySelectorAll("[data-when-ticked]").forEach(function (bar) {
      var scope = bar.closest("[data-tick-scope]");
      var boxes = scope
        ? scope.querySelectorAll(ITEM_BOXES)
        : document.querySelectorAll(ITEM_BOXES + '[form="' + bar.id + '"]');
      bar.hidden = !anyTicked(boxes);
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches(ITEM_BOXES)) {
      showActionBars();
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-select-all]");
    if (!button) {
      return;
    }
    var name = button.getAttribute("data-select-all");
    var boxes = Array.prototype.slice.call(
      document.querySelectorAll('input[type="checkbox"][name="' + name + '"]')
    );
    var tick = boxes.some(function (box) {
      return !box.checked;
    });
    boxes.forEach(function (box) {
      box.checked = tick;
    });
    showActionBars();
  });

  document.addEventListener("htmx:afterSettle", showActionBars);
  showActionBars();

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    if (detail.xhr && detail.xhr.status === 403 && detail.target &&
        detail.target.closest("[data-worklist-row]")) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });
})();
