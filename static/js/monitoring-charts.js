// Draws the monitoring page's charts with Chart.js from the JSON block #monitoring-data.
(function () {
  "use strict";

  var GRID = "rgba(0, 0, 0, 0.06)";
  var REFERENCE = "rgba(108, 117, 125, 0.55)";
  var CURRENT = "rgba(13, 110, 253, 0.8)";

  function options(yTitle, extra) {
    return Object.assign({
      animation: false,
      maintainAspectRatio: false,
      responsive: true,
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: {
        x: { grid: { display: false } },
        y: { beginAtZero: true, grid: { color: GRID }, title: { display: true, text: yTitle } }
      }
    }, extra || {});
  }

  function hourLabel(iso) {
    // "2026-11-30T04:00:00+00:00" -> "11-30 04h"
    return iso.slice(5, 10) + " " + iso.slice(11, 13) + "h";
  }

  function volumeChart(canvas, volume) {
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: volume.map(function (v) { return hourLabel(v.period); }),
        datasets: [{ label: "predictions", data: volume.map(function (v) { return v.rows; }),
          backgroundColor: CURRENT, borderRadius: 2 }]
      },
      options: options("predictions", { plugins: { legend: { display: false } } })
    });
  }

  function pairChart(canvas, labels, reference, current, referenceName) {
    var opts = options("share of rows");
    opts.scales.y.ticks = { callback: function (v) { return Math.round(v * 100) + "%"; } };
    opts.plugins.tooltip = { callbacks: { label: function (c) {
      return c.dataset.label + ": " + (100 * c.parsed.y).toFixed(1) + "%";
    } } };
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: labels,
        datasets: [
          { label: referenceName, data: reference, backgroundColor: REFERENCE, borderRadius: 2 },
          { label: "this window", data: current, backgroundColor: CURRENT, borderRadius: 2 }
        ]
      },
      options: opts
    });
  }

  function errorChart(canvas, errors) {
    // A regression model: live error per day from true values, the test part's as a line.
    var datasets = [{ label: "live " + errors.metric + " (true values)", data: errors.live,
      borderColor: "#198754", backgroundColor: "#198754", pointRadius: 4 }];
    if (errors.test !== null && errors.test !== undefined) {
      datasets.push({ label: "test rows", data: errors.days.map(function () { return errors.test; }),
        borderColor: "#6c757d", backgroundColor: "#6c757d", borderDash: [2, 3],
        pointStyle: "line", pointRadius: errors.days.length > 1 ? 0 : 12 });
    }
    datasets.forEach(function (d) { d.borderWidth = 2; d.spanGaps = true; });
    var opts = options(errors.metric);
    opts.scales.x.offset = true;
    return new Chart(canvas, { type: "line", data: { labels: errors.days, datasets: datasets }, options: opts });
  }

  function accuracyChart(canvas, accuracy) {
    var datasets = [
      { label: "live (labels)", data: accuracy.live, borderColor: "#198754", backgroundColor: "#198754" },
      { label: "estimated (CBPE)", data: accuracy.estimated, borderColor: "#0d6efd", backgroundColor: "#0d6efd", borderDash: [5, 3] }
    ];
    if (accuracy.test !== null && accuracy.test !== undefined) {
      datasets.push({ label: "test rows", data: accuracy.days.map(function () { return accuracy.test; }),
        borderColor: "#6c757d", backgroundColor: "#6c757d", borderDash: [2, 3],
        pointStyle: "line", pointRadius: accuracy.days.length > 1 ? 0 : 12 });
    }
    datasets.forEach(function (d) { d.borderWidth = 2; d.spanGaps = true; if (d.pointRadius === undefined) { d.pointRadius = 4; } });
    var opts = options("accuracy");
    opts.scales.y.beginAtZero = false;
    opts.scales.y.suggestedMin = 0.5;
    opts.scales.y.suggestedMax = 1;
    opts.scales.x.offset = true;
    return new Chart(canvas, { type: "line", data: { labels: accuracy.days, datasets: datasets }, options: opts });
  }

  function empty(canvas, message) {
    var note = document.createElement("p");
    note.className = "text-body-secondary small mb-0";
    note.textContent = message;
    canvas.parentNode.replaceWith(note);
  }

  function drawHistogram(canvas, histograms) {
    if (canvas.dataset.drawn) { return; }
    canvas.dataset.drawn = "1";
    var h = histograms[Number(canvas.dataset.histogram)];
    pairChart(canvas, h.bins, h.reference, h.current, "training data");
  }

  function draw() {
    var source = document.getElementById("monitoring-data");
    if (!source || typeof Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#495057";

    var volume = document.getElementById("volume-chart");
    if (volume) { volumeChart(volume, data.volume); }
    var predictions = document.getElementById("prediction-chart");
    if (predictions) {
      var p = data.predictions;
      pairChart(predictions, p.classes, p.reference, p.current, "test rows");
    }
    var accuracy = document.getElementById("accuracy-chart");
    if (accuracy) {
      if (data.accuracy.days.length && data.accuracy.metric) {
        errorChart(accuracy, data.accuracy);
      } else if (data.accuracy.days.length) {
        accuracyChart(accuracy, data.accuracy);
      } else {
        empty(accuracy, data.accuracy.metric
          ? "No error per day yet: it needs true values sent back for this window's predictions."
          : "No accuracy per day yet: it needs the reference profile or true labels.");
      }
    }
    document.querySelectorAll("canvas[data-histogram]").forEach(function (canvas) {
      var row = canvas.closest(".collapse");
      if (row.classList.contains("show")) {
        drawHistogram(canvas, data.histograms);
      }
      // Chart.js cannot size a canvas inside a hidden row: draw it once the row opens.
      row.addEventListener("shown.bs.collapse", function () { drawHistogram(canvas, data.histograms); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
