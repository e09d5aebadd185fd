/*
 * The worklist's small helpers (templates/worklists/worklist.html). No inline script: a
 * Content Security Policy can forbid them.
 *
 * - "Tick all on this page" ticks (or, when all are ticked, unticks) every row's checkbox
 *   for the bulk bar.
 * - A row's action refused with 403 (the user may no longer act on the item) still replaces
 *   the row, which says why: htmx leaves error responses unswapped unless told.
 */
(function () {
  "use strict";

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
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    if (detail.xhr && detail.xhr.status === 403 && detail.target &&
        detail.target.closest("[data-worklist-row]")) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });
})();
