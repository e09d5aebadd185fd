/*
 * The alert-yield chart (templates/worklists/yield.html): items raised and items that led to
 * an action, per rule, as grouped horizontal bars. Drawn from the JSON island
 * "yield-chart-data" (Django's json_script), so the page needs no inline script. The table
 * above it has the same numbers for anyone who cannot see the chart.
 */
(function () {
  "use strict";

  // NHS identity colours: grey-blue for everything raised, green for what led to an action.
  var RAISED = "#768692";
  var ACTIONED = "#007f3b";

  function draw() {
    var canvas = document.getElementById("yield-chart");
    var island = document.getElementById("yield-chart-data");
    if (!canvas || !island || typeof window.Chart === "undefined") {
      return;
    }
    var data = JSON.parse(island.textContent);
    // Room for every rule's pair of bars, however many rules there are.
    canvas.parentElement.style.height = Math.max(160, 48 * data.labels.length + 80) + "px";
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          { label: "Raised", data: data.raised, backgroundColor: RAISED },
          { label: "Led to an action", data: data.actioned, backgroundColor: ACTIONED },
        ],
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "Items" } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
