// The calculations list: "Select all on this page" ticks every row's box, and the bar says how
// many are ticked. Without JavaScript the rows' boxes and the bar's buttons work all the same.
(function () {
  "use strict";

  function boxes() {
    return Array.from(document.querySelectorAll("input[name='ids'][form='bulk']"));
  }

  function sync() {
    const all = document.getElementById("pick-all");
    const every = boxes();
    const ticked = every.filter(function (box) { return box.checked; }).length;
    if (all) {
      all.hidden = false;
      all.checked = every.length > 0 && ticked === every.length;
      all.indeterminate = ticked > 0 && ticked < every.length;
    }
    const count = document.getElementById("bulk-count");
    if (count) {
      count.textContent = ticked ? ticked + " selected" : "";
    }
  }

  document.addEventListener("change", function (event) {
    const input = event.target;
    if (!(input instanceof HTMLInputElement)) {
      return;
    }
    if (input.id === "pick-all") {
      boxes().forEach(function (box) { box.checked = input.checked; });
      sync();
    } else if (input.name === "ids") {
      sync();
    }
  });
  document.addEventListener("DOMContentLoaded", sync);
  document.addEventListener("htmx:afterSettle", sync);
})();
