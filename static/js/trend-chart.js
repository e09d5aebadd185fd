/*
 * Trend charts of a patient's tests (careplans/followup/charts.py builds the data).
 *
 * Each <canvas data-trend-chart="ID"> is drawn from the JSON island with that id (Django's
 * json_script): no inline script, so a Content Security Policy can forbid them. Charts that
 * arrive later in an htmx fragment are drawn when htmx loads them. Load this file with `defer`
 * after Chart.js, like htmx (which django-htmx loads deferred).
 *
 * The x axis is linear in milliseconds since 1970, with the ticks formatted here, so Chart.js
 * needs no date adapter. Thresholds are dashed lines across the whole chart; the nadir is a
 * highlighted point. PSA comes with scale "logarithmic". A questionnaire score comes with its
 * instrument's severity bands (PHQ-9: minimal to severe), shaded behind the values and named
 * inside the plot area; each name drawn is kept on the chart (chart.$severityLabels) with its
 * box, so a test can check that none is cut off.
 *
 * The chart's height is set by its box (.trend-chart-canvas in rms.css), not by a ratio to its
 * width: on a phone a 2.5:1 chart would be 140 px high and unreadable.
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

  // Pale, lightest for the mildest band; dark text reads on every one of them.
  var BAND_FILLS = ["#e8f4ec", "#fdf6d8", "#fde9cf", "#fbd9cc", "#f6c6c2"];
  var BAND_FONT = "12px system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif";

  function severityBands(bands) {
    return {
      id: "severityBands",
      beforeDatasetsDraw: function (chart) {
        var area = chart.chartArea;
        var y = chart.scales.y;
        var ctx = chart.ctx;
        var drawn = [];
        ctx.save();
        ctx.font = BAND_FONT;
        ctx.textBaseline = "middle";
        bands.forEach(function (band, index) {
          var top = Math.max(area.top, y.getPixelForValue(band.to));
          var bottom = Math.min(area.bottom, y.getPixelForValue(band.from));
          if (bottom <= top) {
            return;
          }
          ctx.fillStyle = BAND_FILLS[Math.min(index, BAND_FILLS.length - 1)];
          ctx.fillRect(area.left, top, area.right - area.left, bottom - top);
          // A name only where the band is tall and wide enough to hold it whole.
          var width = ctx.measureText(band.label).width;
          var height = 14;
          var left = area.right - 4 - width;
          var middle = (top + bottom) / 2;
          if (bottom - top < height || left < area.left + 4) {
            return;
          }
          ctx.fillStyle = DARK;
          ctx.fillText(band.label, left, middle);
          drawn.push({
            label: band.label,
            left: left,
            right: left + width,
            top: middle - height / 2,
            bottom: middle + height / 2,
          });
        });
        ctx.restore();
        chart.$severityLabels = drawn;
      },
    };
  }

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
      plugins: [severityBands(data.bands || [])],
      options: {
        animation: false,
        maintainAspectRatio: false,
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
