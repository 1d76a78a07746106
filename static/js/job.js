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

  function show(job) {
    var progress = job.progress || {};
    var total = progress.total || 0;
    var percent = total ? Math.min(100, Math.round((100 * (progress.round || 0)) / total)) : 0;
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
    if (job.state === "running") {
      rounds.textContent = "Boosting round " + (progress.round || 0) + " of at most " + total +
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
