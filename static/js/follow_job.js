// Follows a job page's job: polls /api/jobs/<id>, moves the progress bar and the state badge;
// the page's own script says what the numbers mean and what happens when the job ends.
// Whole percent of done out of total; 0 while the total is unknown.
window.dsbaPercentOf = function (done, total) {
  "use strict";
  return total ? Math.min(100, Math.round((100 * (done || 0)) / total)) : 0;
};

window.dsbaFollowJob = function (page) {
  "use strict";

  var POLL_MS = 500;
  var root = document.getElementById("job");
  if (!root || (root.dataset.state !== "queued" && root.dataset.state !== "running")) {
    return;
  }
  var bar = document.getElementById("job-progress-bar");
  var track = document.getElementById("job-progress");
  var badge = document.querySelector("#job-state [data-testid=job-state]");
  document.querySelectorAll(".js-hide").forEach(function (el) { el.classList.add("d-none"); });

  function show(job) {
    if (job.state === "queued") {
      return;
    }
    var percent = page.percent(job.progress || {});
    bar.classList.remove("bg-secondary");
    bar.style.width = percent + "%";
    bar.textContent = percent + "%";
    track.setAttribute("aria-valuenow", String(percent));
    if (badge) {
      badge.textContent = job.state;
      badge.classList.toggle("text-bg-primary", job.state === "running");
      badge.classList.toggle("text-bg-secondary", job.state === "queued");
    }
    page.describe(job);
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
          page.finish(job, bar);
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
};
