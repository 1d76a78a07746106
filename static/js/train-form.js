// The train form: say which task training infers for the chosen target, in the task select too.
(function () {
  "use strict";

  function setup() {
    var source = document.getElementById("inferred-tasks");
    var target = document.getElementById("target");
    var task = document.getElementById("task");
    var note = document.getElementById("inferred-task");
    if (!source || !target || !task || !note) { return; }
    var tasks = JSON.parse(source.textContent);
    var automatic = task.querySelector("option[value='']");
    var plain = automatic ? automatic.textContent : "";

    // Settings only a regression reads are off (and not sent) while the task is a classification.
    var regressionOnly = ["interval", "objective"].map(function (id) { return document.getElementById(id); });

    function show() {
      var inferred = tasks[target.value];
      var classification = (task.value || inferred) === "classification";
      regressionOnly.forEach(function (input) { if (input) { input.disabled = classification; } });
      note.textContent = "";
      if (automatic) {
        automatic.textContent = inferred ? plain + " (" + inferred + ")" : plain;
      }
      if (!inferred) { return; }
      var column = document.createElement("code");
      column.textContent = target.value;
      var choice = document.createElement("strong");
      choice.textContent = inferred;
      note.append("For ", column, " training infers ", choice, ".");
    }

    target.addEventListener("change", show);
    task.addEventListener("change", show);
    target.addEventListener("change", showMetrics);
    task.addEventListener("change", showMetrics);
    show();
    showMetrics();
    setupSearch();

    // "Optimize for" offers the metrics of the task the target trains as.
    function showMetrics() {
      var optimize = document.getElementById("optimize");
      if (!optimize) { return; }
      var regression = (task.value || tasks[target.value]) === "regression";
      var groups = optimize.querySelectorAll("optgroup");
      groups.forEach(function (group) {
        var off = (group.label === "Regression") !== regression;
        group.disabled = off;
        group.hidden = off;
      });
      var chosen = optimize.options[optimize.selectedIndex];
      if (chosen && chosen.parentElement.disabled) {
        var first = optimize.querySelector("optgroup:not([disabled]) option");
        if (first) { optimize.value = first.value; }
      }
    }
  }

  // The seconds box shows only while the search is "Custom".
  function setupSearch() {
    var search = document.getElementById("search");
    var seconds = document.getElementById("search-seconds-group");
    if (!search || !seconds) { return; }
    function toggle() {
      var custom = search.value === "custom";
      seconds.classList.toggle("d-none", !custom);
      if (custom) { seconds.querySelector("input").focus(); }
    }
    search.addEventListener("change", toggle);
    seconds.classList.toggle("d-none", search.value !== "custom");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
