// Draws the model page's charts with Chart.js from the JSON block #chart-data.
(function () {
  "use strict";

  var PALETTE = ["#0d6efd", "#d63384", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#dc3545",
    "#0dcaf0", "#6c757d", "#ffc107"];
  var GRID = "rgba(0, 0, 0, 0.06)";

  function colour(i) { return PALETTE[i % PALETTE.length]; }

  function points(xs, ys) {
    return xs.map(function (x, i) { return { x: x, y: ys[i] }; });
  }

  function axis(title, extra) {
    var scale = { type: "linear", title: { display: true, text: title }, grid: { color: GRID } };
    return Object.assign(scale, extra || {});
  }

  function baseOptions(xTitle, yTitle, unitSquare) {
    var bounds = unitSquare ? { min: 0, max: 1 } : {};
    return {
      animation: false,
      maintainAspectRatio: false,
      responsive: true,
      parsing: false,
      interaction: { mode: "nearest", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: { x: axis(xTitle, bounds), y: axis(yTitle, bounds) },
      elements: { point: { radius: 0, hitRadius: 6 } }
    };
  }

  function curveChart(canvas, curves, xKey, yKey, scoreKey, scoreName, xTitle, yTitle, diagonal) {
    var datasets = curves.map(function (c, i) {
      return {
        label: c.label + " (" + scoreName + " " + Number(c[scoreKey]).toFixed(3) + ")",
        data: points(c[xKey], c[yKey]),
        borderColor: colour(i),
        backgroundColor: colour(i),
        borderWidth: 2,
        tension: 0
      };
    });
    if (diagonal) {
      datasets.push({
        label: "chance",
        data: [{ x: 0, y: 0 }, { x: 1, y: 1 }],
        borderColor: "#adb5bd",
        borderDash: [6, 4],
        borderWidth: 1,
        pointRadius: 0
      });
    }
    return new Chart(canvas, {
      type: "line",
      data: { datasets: datasets },
      options: baseOptions(xTitle, yTitle, true)
    });
  }

  function importanceChart(canvas, importance) {
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: importance.map(function (f) { return f.feature; }),
        datasets: [{
          label: "share of total gain",
          data: importance.map(function (f) { return f.gain; }),
          backgroundColor: "rgba(13, 110, 253, 0.75)",
          borderRadius: 3
        }]
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        responsive: true,
        indexAxis: "y",
        plugins: { legend: { display: false } },
        scales: {
          x: { beginAtZero: true, grid: { color: GRID }, title: { display: true, text: "share of total gain" } },
          y: { grid: { display: false } }
        }
      }
    });
  }

  function learningChart(canvas, curve, bestIteration) {
    function series(values) {
      return values.map(function (v, i) { return { x: i + 1, y: v }; });
    }
    var options = baseOptions("boosting round", curve.metric, false);
    options.scales.x.min = 1;
    var datasets = [
      { label: "train", data: series(curve.train), borderColor: colour(0), backgroundColor: colour(0), borderWidth: 2 },
      { label: "validation", data: series(curve.validation), borderColor: colour(3), backgroundColor: colour(3), borderWidth: 2 }
    ];
    if (bestIteration !== null && bestIteration !== undefined && curve.validation.length) {
      datasets.push({
        label: "best round (" + (bestIteration + 1) + ")",
        data: [{ x: bestIteration + 1, y: curve.validation[bestIteration] }],
        borderColor: "#212529",
        backgroundColor: "#212529",
        pointRadius: 5,
        showLine: false
      });
    }
    return new Chart(canvas, { type: "line", data: { datasets: datasets }, options: options });
  }

  // Regression: points of the test rows, with a dashed reference line (the diagonal or zero).
  function scatterChart(canvas, xs, ys, line, xTitle, yTitle, lineLabel, sameScale) {
    var options = baseOptions(xTitle, yTitle, false);
    if (sameScale) {  // both axes span the same values, so the diagonal runs at 45 degrees
      [options.scales.x, options.scales.y].forEach(function (scale) {
        scale.suggestedMin = line[0].x;
        scale.suggestedMax = line[1].x;
      });
    }
    options.interaction = { mode: "nearest", intersect: true };
    options.elements.point = { radius: 2, hoverRadius: 4, hitRadius: 3 };
    options.plugins.tooltip = {
      callbacks: {
        label: function (item) {
          return xTitle + " " + item.parsed.x.toPrecision(4) + ", " + yTitle + " " + item.parsed.y.toPrecision(4);
        }
      }
    };
    return new Chart(canvas, {
      type: "scatter",
      data: {
        datasets: [
          { label: "test rows", data: points(xs, ys), backgroundColor: "rgba(13, 110, 253, 0.45)", borderWidth: 0 },
          {
            label: lineLabel,
            type: "line",
            data: line,
            borderColor: "#6c757d",
            borderDash: [6, 4],
            borderWidth: 1.5,
            pointRadius: 0,
            pointHitRadius: 0
          }
        ]
      },
      options: options
    });
  }

  function decileChart(canvas, deciles) {
    var range = function (d) { return Number(d.low).toPrecision(3) + "–" + Number(d.high).toPrecision(3); };
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: deciles.map(function (d) { return d.decile; }),
        datasets: [
          {
            label: "mean absolute error",
            data: deciles.map(function (d) { return d.mae; }),
            backgroundColor: "rgba(13, 110, 253, 0.75)",
            borderRadius: 3,
            order: 2
          },
          {
            label: "bias (actual − predicted)",
            type: "line",
            data: deciles.map(function (d) { return d.bias; }),
            borderColor: colour(3),
            backgroundColor: colour(3),
            borderWidth: 2,
            pointRadius: 3,
            order: 1
          }
        ]
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        responsive: true,
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: {
              title: function (items) {
                var d = deciles[items[0].dataIndex];
                return "decile " + d.decile + ": predictions " + range(d) + " (" + d.count + " rows)";
              }
            }
          }
        },
        scales: {
          x: { title: { display: true, text: "decile of the prediction (1 = lowest)" }, grid: { display: false } },
          y: { title: { display: true, text: "error" }, grid: { color: GRID } }
        }
      }
    });
  }

  function drawRegression(data) {
    var actual = document.getElementById("actual-chart");
    var residual = document.getElementById("residual-chart");
    var deciles = document.getElementById("decile-chart");
    if (data.actual.length) {
      var low = data.diagonal[0], high = data.diagonal[1];
      scatterChart(actual, data.actual, data.predicted, [{ x: low, y: low }, { x: high, y: high }],
        "actual", "predicted", "exact (predicted = actual)", true);
      var lowest = Math.min.apply(null, data.predicted), highest = Math.max.apply(null, data.predicted);
      scatterChart(residual, data.predicted, data.residual, [{ x: lowest, y: 0 }, { x: highest, y: 0 }],
        "predicted", "residual", "no error", false);
    } else {
      empty(actual, "No test points were recorded.");
      empty(residual, "No test points were recorded.");
    }
    if (data.deciles.length) {
      decileChart(deciles, data.deciles);
    } else {
      empty(deciles, "No error by decile was recorded.");
    }
  }

  function empty(canvas, message) {
    var note = document.createElement("p");
    note.className = "text-body-secondary small mb-0";
    note.textContent = message;
    canvas.parentNode.replaceWith(note);
  }

  function draw() {
    var source = document.getElementById("chart-data");
    if (!source || typeof Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#495057";

    var roc = document.getElementById("roc-chart");
    var pr = document.getElementById("pr-chart");
    var importance = document.getElementById("importance-chart");
    var learning = document.getElementById("learning-chart");
    if (data.task === "regression") {
      drawRegression(data);  // importance and the learning curve are drawn as for classifiers
    } else if (data.roc.length) {
      curveChart(roc, data.roc, "fpr", "tpr", "auc", "AUC", "false positive rate", "true positive rate", true);
      curveChart(pr, data.precision_recall, "recall", "precision", "average_precision", "AP", "recall", "precision", false);
    } else {
      empty(roc, "The test part had a single class, so there is no curve to draw.");
      empty(pr, "The test part had a single class, so there is no curve to draw.");
    }
    if (data.importance.length) {
      importanceChart(importance, data.importance);
    } else {
      empty(importance, "No feature importance was recorded.");
    }
    if (data.learning_curve) {
      learningChart(learning, data.learning_curve, data.best_iteration);
    } else {
      empty(learning, "No learning curve was recorded.");
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
