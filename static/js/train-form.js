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
    show();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
