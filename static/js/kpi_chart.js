// KPI charts drawn with the vendored Chart.js from the JSON the page embeds (json_script).
// Runs on page load and again after each HTMX refresh of the KPI section (htmx.onLoad).
(function () {
  var COLORS = {line: "#0969da", anomaly: "#cf222e", marker: "#8250df", target: "#1a7f37",
                warning: "#bf8700", critical: "#cf222e"};

  function thresholdLine(label, value, color, length) {
    return {type: "line", label: label, data: new Array(length).fill(value), borderColor: color,
            borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0, fill: false};
  }

  function dailyChart(canvas, data) {
    var markerAt = {};
    data.markers.forEach(function (m) { (markerAt[m.index] = markerAt[m.index] || []).push(m.label); });
    var anomalies = data.values.map(function (v, i) { return data.anomalies.indexOf(i) >= 0 ? v : null; });
    var missions = data.values.map(function (v, i) { return markerAt[i] ? v : null; });
    return new Chart(canvas, {
      type: "line",
      data: {labels: data.labels, datasets: [
        {label: "daily value", data: data.values, borderColor: COLORS.line, pointRadius: 0, tension: 0.2},
        {label: "anomaly", data: anomalies, showLine: false, pointRadius: 5, pointBackgroundColor: COLORS.anomaly},
        {label: "mission ran", data: missions, showLine: false, pointStyle: "triangle", pointRadius: 8,
         pointBackgroundColor: COLORS.marker},
      ]},
      options: {responsive: true, maintainAspectRatio: false, animation: false, spanGaps: true,
        interaction: {mode: "index", intersect: false},
        scales: {x: {ticks: {maxTicksLimit: 10}}, y: {title: {display: !!data.unit, text: data.unit}}},
        plugins: {tooltip: {callbacks: {afterBody: function (items) {
          return (items.length && markerAt[items[0].dataIndex]) || [];
        }}}}},
    });
  }

  function evaluationChart(canvas, data) {
    var n = data.evaluations.values.length, t = data.thresholds;
    return new Chart(canvas, {
      type: "line",
      data: {labels: data.evaluations.labels, datasets: [
        {label: "KPI value", data: data.evaluations.values, borderColor: COLORS.line, pointRadius: 2},
        thresholdLine("target", t.target, COLORS.target, n),
        thresholdLine("warning", t.warning, COLORS.warning, n),
        thresholdLine("critical", t.critical, COLORS.critical, n),
      ]},
      options: {responsive: true, maintainAspectRatio: false, animation: false,
        interaction: {mode: "index", intersect: false},
        scales: {x: {ticks: {maxTicksLimit: 8}}, y: {title: {display: !!data.unit, text: data.unit}}}},
    });
  }

  function draw(root) {
    var script = root.querySelector && root.querySelector("#kpi-chart-data");
    if (!script || typeof Chart === "undefined") return;
    var data = JSON.parse(script.textContent);
    var daily = root.querySelector("#kpi-daily-chart"), evals = root.querySelector("#kpi-evaluation-chart");
    if (daily) dailyChart(daily, data);
    if (evals && data.evaluations.values.length) evaluationChart(evals, data);
  }

  if (window.htmx) { htmx.onLoad(draw); } else { document.addEventListener("DOMContentLoaded", function () { draw(document); }); }
})();
