/* The load graphs of clusters, drawn with the vendored Plotly.js.
 *
 * Each <div data-chart="cpu|memory|running" data-cluster="NAME"> is drawn from the JSON
 * in <script id="cluster-loads"> (the cluster's load as GET /api/v1/clusters/NAME/load
 * gives it, by cluster name), and drawn again from every `load` server-sent event that
 * reaches an element with sse-swap="load" (htmx's SSE extension); that event carries JSON,
 * so its swap is cancelled here. After each draw the div's data-drawn counts the draws and
 * data-points the points shown.
 */
(function () {
  "use strict";

  const GIB = 1024 * 1024 * 1024;
  const COLORS = ["#1f5fbf", "#b45309", "#1b7f3b", "#7c3aed", "#b42318", "#0e7490"];

  const KINDS = {
    cpu: {
      title: "CPU %",
      range: [0, 100],
      traces: (agent) => [{ name: agent.agent, y: agent.points.map((p) => p.cpu_percent) }],
    },
    memory: {
      title: "memory used (GiB)",
      traces: (agent) => [{ name: agent.agent, y: agent.points.map((p) => p.memory_used / GIB) }],
    },
    running: {
      title: "running and cores",
      traces: (agent) => [
        { name: agent.agent + " running", y: agent.points.map((p) => p.running) },
        { name: agent.agent + " cores", y: agent.points.map((p) => p.cores), line: { dash: "dot" } },
      ],
    },
  };

  function traces(kind, load) {
    const data = [];
    load.agents.forEach((agent, n) => {
      const x = agent.points.map((p) => new Date(p.at).getTime());
      for (const trace of kind.traces(agent)) {
        const line = Object.assign({ color: COLORS[n % COLORS.length], width: 1.5 }, trace.line || {});
        // A line needs two samples: an agent that has sent one shows it as a point.
        const mode = x.length < 2 ? "markers" : "lines";
        data.push(Object.assign({ type: "scatter", mode: mode, x: x }, trace, { line: line }));
      }
    });
    return data;
  }

  function draw(element, load) {
    const kind = KINDS[element.dataset.chart];
    if (!kind || typeof Plotly === "undefined") return;
    const small = element.classList.contains("small");
    const data = traces(kind, load);
    const layout = {
      height: small ? 110 : 240,
      margin: small ? { l: 32, r: 6, t: 20, b: 22 } : { l: 48, r: 12, t: 32, b: 36 },
      title: { text: kind.title, font: { size: small ? 11 : 14 }, x: 0.02, xanchor: "left" },
      showlegend: !small && data.length > 1,
      legend: { orientation: "h", y: -0.2 },
      xaxis: { type: "date", range: [new Date(load.since).getTime(), new Date(load.until).getTime()] },
      yaxis: { range: kind.range, rangemode: "tozero", fixedrange: true },
      paper_bgcolor: "#fff",
      plot_bgcolor: "#fff",
      font: { family: "system-ui, sans-serif", size: 11 },
    };
    const config = { displayModeBar: false, responsive: true, staticPlot: small };
    Plotly.react(element, data, layout, config);
    element.dataset.drawn = String(Number(element.dataset.drawn || 0) + 1);
    element.dataset.points = String(data.reduce((n, trace) => n + trace.x.length, 0));
  }

  function drawAll(loads) {
    document.querySelectorAll("[data-chart]").forEach((element) => {
      const load = loads[element.dataset.cluster];
      if (load) draw(element, load);
    });
  }

  document.addEventListener("htmx:sseBeforeMessage", (event) => {
    if (!event.detail || event.detail.type !== "load") return;
    event.preventDefault();
    drawAll(JSON.parse(event.detail.data));
  });

  function start() {
    const initial = document.getElementById("cluster-loads");
    if (initial) drawAll(JSON.parse(initial.textContent));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
