// Follows a training job: polls /api/jobs/<id>, moves the progress bar, then goes to the model.
(function () {
  "use strict";

  var POLL_MS = 500;
  var root = document.getElementById("job");
  if (!root || (root.dataset.state !== "queued" && root.dataset.state !== "running")) {
    return;
  }
  var bar = document.getElementById("job-progress-bar");
  var track = document.getElementById("job-progress");
  var rounds = document.getElementById("job-rounds");
  var badge = document.querySelector("#job-state [data-testid=job-state]");
  document.querySelectorAll(".js-hide").forEach(function (el) { el.classList.add("d-none"); });

  var LABELS = { f1: "F1", log_loss: "log loss", roc_auc: "ROC AUC", rmse: "RMSE", mae: "MAE", r2: "R²" };
  var budget = parseFloat(root.dataset.timeBudget) || 0;
  var searchAsked = root.dataset.search === "yes";

  // The search's progress record: trials done of the total, seconds left, best score so far.
  function searchPercent(progress) {
    if (progress.total) { return Math.min(100, Math.round((100 * progress.trial) / progress.total)); }
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

  function show(job) {
    var progress = job.progress || {};
    var total = progress.total || 0;
    var searching = progress.trial !== undefined;
    var percent = total ? Math.min(100, Math.round((100 * (progress.round || 0)) / total)) : 0;
    if (searching) { percent = searchPercent(progress); }
    if (job.state === "queued") {
      return;
    }
    bar.classList.remove("bg-secondary");
    bar.style.width = percent + "%";
    bar.textContent = percent + "%";
    track.setAttribute("aria-valuenow", String(percent));
    if (badge) {
      badge.textContent = job.state;
      badge.classList.toggle("text-bg-primary", job.state === "running");
      badge.classList.toggle("text-bg-secondary", job.state === "queued");
    }
    if (job.state === "running" && searching) {
      rounds.replaceChildren(Object.assign(document.createElement("span"), {
        textContent: searchLine(progress)
      }));
      rounds.firstChild.dataset.testid = "job-search";
    } else if (job.state === "running" && searchAsked && !progress.round) {
      rounds.textContent = "Searching: the first trial is running.";
    } else if (job.state === "running") {
      rounds.textContent = (searchAsked ? "Refitting the winner: boosting round " : "Boosting round ") +
        (progress.round || 0) + " of at most " + total +
        " (training stops early when the validation loss stops improving).";
    }
  }

  function finish(job) {
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

  function poll() {
    fetch(root.dataset.jobUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (job) {
        show(job);
        if (job.state !== "queued" && job.state !== "running") {
          finish(job);
        } else {
          window.setTimeout(poll, POLL_MS);
        }
      })
      .catch(function () {
        // A restarting worker or a blip: keep following, a little slower.
        window.setTimeout(poll, POLL_MS * 4);
      });
  }

  window.setTimeout(poll, POLL_MS);
})();
