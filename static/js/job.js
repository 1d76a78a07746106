// A training job's page: boosting rounds or the search's trials, then the model it made.
(function () {
  "use strict";

  var root = document.getElementById("job");
  var rounds = document.getElementById("job-rounds");

  var LABELS = { f1: "F1", log_loss: "log loss", roc_auc: "ROC AUC", rmse: "RMSE", mae: "MAE", r2: "R²" };
  var budget = root ? parseFloat(root.dataset.timeBudget) || 0 : 0;
  var searchAsked = root !== null && root.dataset.search === "yes";

  // The search's progress record: trials done of the total, seconds left, best score so far.
  function searchPercent(progress) {
    if (progress.total) { return window.dsbaPercentOf(progress.trial, progress.total); }
    if (budget && progress.seconds_left !== null && progress.seconds_left !== undefined) {
      return Math.max(0, Math.min(100, Math.round(100 * (1 - progress.seconds_left / budget))));
    }
    return 0;
  }

  function searchLine(progress) {
    var text = "Searching: " + progress.trial + " trial" + (progress.trial === 1 ? "" : "s");
    text += progress.total ? " of " + progress.total + " done" : " done";
    if (progress.seconds_left !== null && progress.seconds_left !== undefined) {
      text += " · " + Math.round(progress.seconds_left) + " s left";
    }
    if (progress.best !== null && progress.best !== undefined) {
      var metric = progress.metric || "score";
      text += " · best " + (LABELS[metric] || metric.replace(/_/g, " ")) + " so far " +
        Number(progress.best.toPrecision(4));
    }
    return text + ".";
  }

  function percent(progress) {
    if (progress.trial !== undefined) { return searchPercent(progress); }
    return window.dsbaPercentOf(progress.round, progress.total);
  }

  function describe(job) {
    var progress = job.progress || {};
    if (job.state === "running" && progress.trial !== undefined) {
      rounds.replaceChildren(Object.assign(document.createElement("span"), {
        textContent: searchLine(progress)
      }));
      rounds.firstChild.dataset.testid = "job-search";
    } else if (job.state === "running" && searchAsked && !progress.round) {
      rounds.textContent = "Searching: the first trial is running.";
    } else if (job.state === "running") {
      rounds.textContent = (searchAsked ? "Refitting the winner: boosting round " : "Boosting round ") +
        (progress.round || 0) + " of at most " + (progress.total || 0) +
        " (training stops early when the validation loss stops improving).";
    }
  }

  function finish(job, bar) {
    if (job.state === "succeeded" && job.model) {
      var version = job.model.split(":")[1];
      bar.classList.remove("bg-secondary", "progress-bar-animated");
      bar.classList.add("bg-success");
      bar.style.width = "100%";
      bar.textContent = "100%";
      rounds.textContent = "Done: opening the model…";
      window.location.assign(root.dataset.modelUrl + "?version=" + encodeURIComponent(version));
    } else {
      // The server renders the failure or cancellation with its message and a way back.
      window.location.reload();
    }
  }

  window.dsbaFollowJob({ percent: percent, describe: describe, finish: finish });
})();
