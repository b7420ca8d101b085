// calchub plots: draw every figure whose Plotly spec the page embeds, with the vendored Plotly.js.
//
// A figure is an element with data-plot-spec="ID", where ID names a
// <script type="application/json"> holding {"data": [...], "layout": {...}}.
// Whatever the element holds (the SVG image) stays until the plot is drawn, and
// stays for good if Plotly cannot load. Figures that arrive later in an htmx
// swap are drawn too. Plotly.js is loaded only when a page has something to draw.
(function () {
  "use strict";
  if (window.calchubPlots) {
    window.calchubPlots.draw(document);
    return;
  }
  var PLOTLY = "/static/vendor/plotly.min.js";
  var loading = null;

  function plotly() {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = PLOTLY;
        script.onload = function () { resolve(window.Plotly); };
        script.onerror = function () { loading = null; reject(new Error("cannot load " + PLOTLY)); };
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  // Plotly reads a few HTML tags in its text; names and titles come from users, so show them as text.
  var TEXT_KEYS = { text: true, name: true, title: true, hovertext: true };
  function escapeText(value) {
    if (Array.isArray(value)) return value.map(escapeText);
    if (typeof value !== "string") return asText(value);
    return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  function asText(node) {
    if (Array.isArray(node)) return node.map(asText);
    if (node === null || typeof node !== "object") return node;
    var out = {};
    Object.keys(node).forEach(function (key) {
      out[key] = TEXT_KEYS[key] ? escapeText(node[key]) : asText(node[key]);
    });
    return out;
  }

  function drawOne(element, Plotly) {
    var source = document.getElementById(element.getAttribute("data-plot-spec"));
    if (!source) return Promise.resolve();
    var spec = asText(JSON.parse(source.textContent));
    var layout = Object.assign({ autosize: true, margin: { t: 50, r: 60, b: 60, l: 70 } }, spec.layout || {});
    var config = { responsive: true, displaylogo: false };
    var fallback = Array.prototype.slice.call(element.childNodes);
    fallback.forEach(function (node) { element.removeChild(node); });
    return Plotly.newPlot(element, spec.data || [], layout, config).then(
      function () { element.setAttribute("data-plotted", "true"); },
      function (error) {
        fallback.forEach(function (node) { element.appendChild(node); });
        element.setAttribute("data-plotted", "failed");
        console.error("calchub: a plot could not be drawn", error);
      }
    );
  }

  function draw(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var found = Array.prototype.slice.call(scope.querySelectorAll("[data-plot-spec]"));
    if (scope.matches && scope.matches("[data-plot-spec]")) found.push(scope);
    var waiting = found.filter(function (element) {
      if (element.hasAttribute("data-plot-started")) return false;
      element.setAttribute("data-plot-started", "true");
      return true;
    });
    if (!waiting.length) return Promise.resolve();
    return plotly().then(
      function (Plotly) { return Promise.all(waiting.map(function (element) { return drawOne(element, Plotly); })); },
      function (error) {
        waiting.forEach(function (element) { element.setAttribute("data-plotted", "failed"); });
        console.error("calchub:", error.message);
      }
    );
  }

  window.calchubPlots = { draw: draw };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { draw(document); });
  } else {
    draw(document);
  }
  // htmx:load fires for each piece of content htmx puts in the page (swaps, server-sent events).
  document.addEventListener("htmx:load", function (event) { draw(event.target); });
})();
