// The study page: the plot's choices are swapped in live when new results appear, and the
// result and parameter the viewer chose stay chosen across the swap (when they are still offered).
(function () {
  "use strict";
  var kept = null;

  function selects() {
    return Array.prototype.slice.call(document.querySelectorAll("#plot-choices select"));
  }

  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    if (!event.detail || event.detail.type !== "choices") return;
    kept = {};
    selects().forEach(function (select) { kept[select.name] = select.value; });
  });

  document.addEventListener("htmx:sseMessage", function (event) {
    if (!event.detail || event.detail.type !== "choices" || !kept) return;
    selects().forEach(function (select) {
      var value = kept[select.name];
      var offered = Array.prototype.some.call(select.options, function (o) { return o.value === value; });
      if (value && offered) select.value = value;
    });
    kept = null;
  });
})();
