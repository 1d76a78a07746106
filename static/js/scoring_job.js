// A scoring job's page: rows done out of the total, then the server's page of the result.
(function () {
  "use strict";

  var rows = document.getElementById("job-rows");
  var number = new Intl.NumberFormat("en-US");

  window.dsbaFollowJob({
    percent: function (progress) {
      return window.dsbaPercentOf(progress.rows, progress.total);
    },
    describe: function (job) {
      var progress = job.progress || {};
      rows.textContent = progress.total
        ? number.format(progress.rows || 0) + " of " + number.format(progress.total) + " rows scored."
        : "Counting the rows of the file…";
    },
    finish: function () {
      // The server renders the result (or the failure) with its download.
      window.location.reload();
    }
  });
})();
