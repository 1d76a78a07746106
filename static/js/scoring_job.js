// Follows a scoring job: polls /api/jobs/<id>, shows rows done out of the total, then reloads.
(function () {
  "use strict";

  var POLL_MS = 500;
  var root = document.getElementById("job");
  if (!root || (root.dataset.state !== "queued" && root.dataset.state !== "running")) {
    return;
  }
  var bar = document.getElementById("job-progress-bar");
  var track = document.getElementById("job-progress");
  var rows = document.getElementById("job-rows");
  var badge = document.querySelector("#job-state [data-testid=job-state]");
  var number = new Intl.NumberFormat("en-US");
  document.querySelectorAll(".js-hide").forEach(function (el) { el.classList.add("d-none"); });

  function show(job) {
    var progress = job.progress || {};
    var total = progress.total || 0;
    var done = progress.rows || 0;
    var percent = total ? Math.min(100, Math.round((100 * done) / total)) : 0;
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
    rows.textContent = total
      ? number.format(done) + " of " + number.format(total) + " rows scored."
      : "Counting the rows of the file…";
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
          // The server renders the result (or the failure) with its download.
          window.location.reload();
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
