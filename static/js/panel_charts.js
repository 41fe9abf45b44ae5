// The AI panel's spend-per-day chart and the orders page's revenue-by-stream chart, drawn with the
// vendored Chart.js from the JSON the page embeds (json_script), in the KPI chart's style (kpi_chart.js).
// Runs on page load and again after each HTMX swap (htmx.onLoad).
(function () {
  var STREAM_COLORS = ["#0969da", "#1a7f37", "#8250df", "#bf8700", "#cf222e", "#57606a", "#bc4c00"];
  var OPTIONS = {responsive: true, maintainAspectRatio: false, animation: false,
                 interaction: {mode: "index", intersect: false}};

  function aiSpendChart(canvas, data) {
    return new Chart(canvas, {
      type: "bar",
      data: {labels: data.labels, datasets: [
        {type: "bar", label: "AI spend (USD)", data: data.spent_usd, backgroundColor: "#0969da"},
        {type: "line", label: "daily cap", data: new Array(data.labels.length).fill(data.cap_usd),
         borderColor: "#cf222e", borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0, fill: false},
      ]},
      options: Object.assign({}, OPTIONS, {scales: {x: {ticks: {maxTicksLimit: 10}},
        y: {beginAtZero: true, title: {display: true, text: "USD"}}}}),
    });
  }

  function revenueChart(canvas, data) {
    return new Chart(canvas, {
      type: "bar",
      data: {labels: data.labels, datasets: data.streams.map(function (s, i) {
        return {label: s.name, data: s.values, backgroundColor: STREAM_COLORS[i % STREAM_COLORS.length]};
      })},
      options: Object.assign({}, OPTIONS, {scales: {x: {stacked: true, ticks: {maxTicksLimit: 10}},
        y: {stacked: true, beginAtZero: true, title: {display: true, text: data.currency}}}}),
    });
  }

  var CHARTS = [["ai-spend-chart", aiSpendChart], ["revenue-stream-chart", revenueChart]];

  function draw(root) {
    if (!root.querySelector || typeof Chart === "undefined") return;
    CHARTS.forEach(function (chart) {
      var canvas = root.querySelector("#" + chart[0]), script = root.querySelector("#" + chart[0] + "-data");
      if (canvas && script) chart[1](canvas, JSON.parse(script.textContent));
    });
  }

  if (window.htmx) { htmx.onLoad(draw); } else { document.addEventListener("DOMContentLoaded", function () { draw(document); }); }
})();
