// The model page's threshold view: precision/recall/F1 against the threshold, a slider that
// reads the test part's counts at each threshold, and the reliability diagram.
(function () {
  "use strict";

  var GRID = "rgba(0, 0, 0, 0.06)";

  function ratio(a, b) { return b ? a / b : 0; }

  function rowMetrics(t, i) {
    var tp = t.tp[i], fp = t.fp[i], fn = t.fn[i], tn = t.tn[i];
    return {
      tp: tp, fp: fp, fn: fn, tn: tn,
      precision: ratio(tp, tp + fp),
      recall: ratio(tp, tp + fn),
      f1: ratio(2 * tp, 2 * tp + fp + fn),
      balanced: (ratio(tp, tp + fn) + ratio(tn, tn + fp)) / 2
    };
  }

  function nearest(thresholds, value) {
    var best = 0;
    thresholds.forEach(function (x, i) {
      if (Math.abs(x - value) < Math.abs(thresholds[best] - value)) { best = i; }
    });
    return best;
  }

  function options(xTitle, yTitle) {
    return {
      animation: false,
      maintainAspectRatio: false,
      responsive: true,
      parsing: false,
      interaction: { mode: "nearest", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: {
        x: { type: "linear", min: 0, max: 1, title: { display: true, text: xTitle }, grid: { color: GRID } },
        y: { type: "linear", min: 0, max: 1, title: { display: true, text: yTitle }, grid: { color: GRID } }
      },
      elements: { point: { radius: 0, hitRadius: 6 } }
    };
  }

  function series(t, key) {
    return t.threshold.map(function (x, i) { return { x: x, y: rowMetrics(t, i)[key] }; });
  }

  function line(label, data, colour, extra) {
    return Object.assign({ label: label, data: data, borderColor: colour, backgroundColor: colour, borderWidth: 2 }, extra || {});
  }

  function thresholdChart(canvas, t, value) {
    var marker = line("threshold", [{ x: value, y: 0 }, { x: value, y: 1 }], "#212529", { borderDash: [4, 3], borderWidth: 1 });
    return new Chart(canvas, {
      type: "line",
      data: {
        datasets: [
          line("precision", series(t, "precision"), "#0d6efd"),
          line("recall", series(t, "recall"), "#d63384"),
          line("F1", series(t, "f1"), "#198754"),
          marker
        ]
      },
      options: options("threshold", "score")
    });
  }

  function reliabilityChart(canvas, calibration) {
    var datasets = [
      line("perfectly calibrated", [{ x: 0, y: 0 }, { x: 1, y: 1 }], "#adb5bd", { borderDash: [6, 4], borderWidth: 1 })
    ];
    function bins(c, label, colour) {
      datasets.push(line(label, c.bins.map(function (b) { return { x: b.predicted, y: b.observed }; }), colour, {
        pointRadius: 4, tension: 0
      }));
    }
    if (calibration.uncalibrated) { bins(calibration.uncalibrated, "before calibration", "#adb5bd"); }
    bins(calibration, calibration.uncalibrated ? "calibrated (served)" : "test rows", "#fd7e14");
    return new Chart(canvas, { type: "line", data: { datasets: datasets }, options: options("mean predicted probability", "observed share") });
  }

  function draw() {
    var source = document.getElementById("decision-data");
    if (!source || typeof Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var t = data.table;
    var slider = document.getElementById("threshold");
    var chart = thresholdChart(document.getElementById("threshold-chart"), t, Number(slider.value));
    if (data.calibration && data.calibration.bins) {
      reliabilityChart(document.getElementById("reliability-chart"), data.calibration);
    }
    function show() {
      var value = Number(slider.value);
      var m = rowMetrics(t, nearest(t.threshold, value));
      document.querySelector("[data-testid=threshold-value]").textContent = value.toFixed(2);
      document.querySelector("[data-testid=threshold-precision]").textContent = m.precision.toFixed(3);
      document.querySelector("[data-testid=threshold-recall]").textContent = m.recall.toFixed(3);
      document.querySelector("[data-testid=threshold-f1]").textContent = m.f1.toFixed(3);
      document.querySelector("[data-testid=threshold-balanced]").textContent = m.balanced.toFixed(3);
      ["tp", "fp", "fn", "tn"].forEach(function (k) {
        document.querySelector("[data-cell=" + k + "]").textContent = m[k];
      });
      chart.data.datasets[3].data = [{ x: value, y: 0 }, { x: value, y: 1 }];
      chart.update("none");
    }
    slider.addEventListener("input", show);
    show();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
