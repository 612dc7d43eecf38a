/* Charts of the DPO's figures page and the public transparency page, drawn
   as SVG from the data-* attributes of each <figure data-chart>. No
   library, no inline script (CSP). The numbers are also in a table beside
   each chart; a value left out (null: not known, or too small a count to
   publish) draws nothing. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var W = 720, H = 260, PAD = { left: 44, right: 12, top: 12, bottom: 40 };

  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // The top of the axis: four gridline steps of 1, 2 or 5 times a power of
  // ten, whole numbers when the data are counts.
  function niceMax(value, whole) {
    var raw = Math.max(value, whole ? 4 : 1) / 4;
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      var step = steps[i] * power;
      if (step >= raw && (!whole || step === Math.round(step))) { return step * 4; }
    }
    return 40 * power;
  }

  function allWhole(series) {
    return series.every(function (s) {
      return s.values.every(function (v) { return v === null || v === Math.round(v); });
    });
  }

  function axes(svg, labels, max) {
    var plotH = H - PAD.top - PAD.bottom;
    for (var i = 0; i <= 4; i++) {
      var value = max * i / 4;
      var y = PAD.top + plotH - plotH * i / 4;
      svg.appendChild(el("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, "class": "grid" }));
      svg.appendChild(el("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", "class": "tick" },
        String(Math.round(value * 10) / 10)));
    }
    var step = Math.max(1, Math.ceil(labels.length / 8));
    var slot = (W - PAD.left - PAD.right) / Math.max(1, labels.length);
    labels.forEach(function (label, i) {
      if (i % step !== 0) { return; }
      svg.appendChild(el("text", { x: PAD.left + slot * (i + 0.5), y: H - PAD.bottom + 16,
        "text-anchor": "middle", "class": "tick" }, label));
    });
    return slot;
  }

  function legend(figure, series) {
    var list = document.createElement("ul");
    list.className = "legend";
    series.forEach(function (s, i) {
      var item = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.className = "swatch series-" + i;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(s.name));
      list.appendChild(item);
    });
    figure.appendChild(list);
  }

  function yOf(value, max) {
    var plotH = H - PAD.top - PAD.bottom;
    return PAD.top + plotH - plotH * (value / max);
  }

  function bars(svg, labels, series, stacked) {
    var totals = labels.map(function (_, i) {
      return series.reduce(function (sum, s) { return stacked ? sum + (s.values[i] || 0)
        : Math.max(sum, s.values[i] || 0); }, 0);
    });
    var max = niceMax(Math.max.apply(null, totals.concat([0])), allWhole(series));
    var slot = axes(svg, labels, max);
    var width = Math.max(2, slot * 0.7);
    // Several series side by side in the slot, unless stacked.
    var group = stacked ? 1 : series.length;
    var barWidth = Math.max(1, width / group);
    labels.forEach(function (label, i) {
      var base = 0;
      series.forEach(function (s, k) {
        var value = s.values[i];
        if (value === null || value === undefined || (value === 0 && stacked)) { return; }
        var top = yOf(base + value, max), bottom = yOf(base, max);
        // A figure of 0 (a median of 0 days) is shown as a thin bar on the
        // axis, not as nothing.
        if (value === 0) { top = bottom - 2; }
        var x = PAD.left + slot * i + (slot - width) / 2 + (stacked ? 0 : k * barWidth);
        var rect = el("rect", { x: x, y: top, width: barWidth,
          height: Math.max(0, bottom - top), "class": "series-" + k });
        rect.appendChild(el("title", {}, label + " · " + s.name + ": " + value));
        svg.appendChild(rect);
        if (stacked) { base += value; }
      });
    });
  }

  function lines(svg, labels, series) {
    var all = [0];
    series.forEach(function (s) { all = all.concat(s.values.filter(function (v) { return v !== null; })); });
    var max = niceMax(Math.max.apply(null, all), allWhole(series));
    var slot = axes(svg, labels, max);
    series.forEach(function (s, k) {
      // One polyline per run of known values: a gap stays a gap.
      var runs = [[]];
      s.values.forEach(function (v, i) {
        if (v === null || v === undefined) { runs.push([]); return; }
        runs[runs.length - 1].push((PAD.left + slot * (i + 0.5)).toFixed(1) + "," +
          yOf(v, max).toFixed(1));
      });
      runs.forEach(function (points) {
        if (points.length > 1) {
          svg.appendChild(el("polyline", { points: points.join(" "), "class": "line series-" + k }));
        }
      });
      s.values.forEach(function (v, i) {
        if (v === null || v === undefined) { return; }
        var dot = el("circle", { cx: PAD.left + slot * (i + 0.5), cy: yOf(v, max), r: 3,
          "class": "series-" + k });
        dot.appendChild(el("title", {}, labels[i] + " · " + s.name + ": " + v));
        svg.appendChild(dot);
      });
    });
  }

  function draw(figure) {
    var labels, series;
    try {
      labels = JSON.parse(figure.getAttribute("data-labels") || "[]");
      series = JSON.parse(figure.getAttribute("data-series") || "[]");
    } catch (error) {
      return;
    }
    var kind = figure.getAttribute("data-chart");
    // The server may say whether there is anything to show (a median of 0
    // days is a figure); else any value other than 0 or none counts.
    var flag = figure.getAttribute("data-has-data");
    var hasData = flag !== null ? flag === "1"
      : series.some(function (s) { return s.values.some(function (v) { return v; }); });
    if (!hasData) {
      var note = document.createElement("p");
      note.className = "empty";
      note.textContent = figure.getAttribute("data-empty") || "";
      figure.appendChild(note);
      return;
    }
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "class": "chart-svg" });
    svg.appendChild(el("title", {}, series.map(function (s) { return s.name; }).join(", ")));
    if (kind === "lines") { lines(svg, labels, series); }
    else { bars(svg, labels, series, kind === "stacked"); }
    figure.appendChild(svg);
    legend(figure, series);
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("figure[data-chart]"), draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
