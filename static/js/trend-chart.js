/*
 * Trend charts of a patient's tests (careplans/charts.py builds the data).
 *
 * Each <canvas data-trend-chart="ID"> is drawn from the JSON island with that id (Django's
 * json_script): no inline script, so a Content Security Policy can forbid them. Charts that
 * arrive later in an htmx fragment are drawn when htmx loads them. Load this file with `defer`
 * after Chart.js, like htmx (which django-htmx loads deferred).
 *
 * The x axis is linear in milliseconds since 1970, with the ticks formatted here, so Chart.js
 * needs no date adapter. Thresholds are dashed lines across the whole chart; the nadir is a
 * highlighted point. PSA comes with scale "logarithmic".
 */
(function () {
  "use strict";

  var DATE = new Intl.DateTimeFormat("en-GB", {
    day: "numeric",
    month: "short",
    year: "numeric",
    timeZone: "Europe/London",
  });
  // NHS identity colours: blue for values, red for limits, warm yellow for the nadir.
  var BLUE = "#005eb8";
  var RED = "#d5281b";
  var YELLOW = "#ffb81c";
  var DARK = "#212b32";

  function number(value) {
    // Plain numbers on the value axis (a log scale would otherwise show 1e-2).
    return Number(value).toLocaleString("en-GB", { maximumSignificantDigits: 4 });
  }

  function logTick(value) {
    // A log axis has a gridline at every 1..9 of each decade: label only 1, 2 and 5.
    var scaled = value / Math.pow(10, Math.floor(Math.log10(value) + 1e-9));
    var shown = [1, 2, 5].some(function (mark) {
      return Math.abs(scaled - mark) < 1e-6;
    });
    return shown ? number(value) : "";
  }

  function datasets(data) {
    var sets = [
      {
        label: data.title + (data.units ? " (" + data.units + ")" : ""),
        data: data.points.map(function (p) {
          return { x: p.x, y: p.y, text: p.label, date: p.date };
        }),
        borderColor: BLUE,
        backgroundColor: BLUE,
        pointRadius: 4,
        // A value the lab gave only as a limit ("<0.01") is an open circle.
        pointBackgroundColor: data.points.map(function (p) {
          return p.censored ? "#ffffff" : BLUE;
        }),
        showLine: true,
        tension: 0,
      },
    ];
    data.thresholds.forEach(function (line) {
      sets.push({
        label: line.label,
        data: [
          { x: data.x_min, y: line.y, text: line.label },
          { x: data.x_max, y: line.y, text: line.label },
        ],
        borderColor: RED,
        backgroundColor: RED,
        borderDash: [6, 4],
        borderWidth: 2,
        pointStyle: "line",
        pointRadius: 0,
        pointHitRadius: 4,
        showLine: true,
      });
    });
    if (data.nadir) {
      sets.push({
        label: data.nadir.label,
        data: [{ x: data.nadir.x, y: data.nadir.y, text: data.nadir.label }],
        borderColor: DARK,
        backgroundColor: YELLOW,
        pointStyle: "rectRot",
        pointRadius: 8,
        pointHoverRadius: 9,
        showLine: false,
      });
    }
    return sets;
  }

  function draw(canvas) {
    if (canvas.dataset.drawn === "true" || typeof window.Chart === "undefined") {
      return;
    }
    var source = document.getElementById(canvas.dataset.trendChart);
    if (!source) {
      return;
    }
    var data = JSON.parse(source.textContent);
    canvas.dataset.drawn = "true";
    new window.Chart(canvas, {
      type: "line",
      data: { datasets: datasets(data) },
      options: {
        animation: false,
        aspectRatio: 2.5,
        parsing: true,
        interaction: { mode: "nearest", intersect: true },
        scales: {
          x: {
            type: "linear",
            min: data.x_min,
            max: data.x_max,
            ticks: {
              maxTicksLimit: 8,
              callback: function (value) {
                return DATE.format(new Date(value));
              },
            },
          },
          y: {
            type: data.scale,
            // A questionnaire score is drawn on its instrument's whole range (PHQ-9 0-27).
            min: data.y_min === null || data.y_min === undefined ? undefined : data.y_min,
            max: data.y_max === null || data.y_max === undefined ? undefined : data.y_max,
            title: { display: Boolean(data.units), text: data.units },
            ticks: { callback: data.scale === "logarithmic" ? logTick : number },
          },
        },
        plugins: {
          legend: { position: "bottom", labels: { usePointStyle: true } },
          tooltip: {
            callbacks: {
              title: function (items) {
                var raw = items.length ? items[0].raw : null;
                return raw && raw.date ? raw.date : "";
              },
              label: function (item) {
                return item.raw.text || item.dataset.label;
              },
            },
          },
        },
      },
    });
  }

  function drawAll(root) {
    var scope = root && root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches("canvas[data-trend-chart]")) {
      draw(scope);
    }
    scope.querySelectorAll("canvas[data-trend-chart]").forEach(draw);
  }

  function start() {
    // Scripts are deferred like htmx's own, so htmx is here by now when the page uses it.
    drawAll(document);
    if (window.htmx) {
      // Called for each fragment htmx swaps in afterwards (and again for the page: a chart
      // already drawn is left alone).
      window.htmx.onLoad(drawAll);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
