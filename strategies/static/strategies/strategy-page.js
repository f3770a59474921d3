// The strategy page's charts (candles with signals and fills, the equity curve), their hover
// labels, and the refresh after each run: figures, trades, runs and chart data from the server.
"use strict";

const GREEN = "#26a69a";
const RED = "#ef5350";
const REFRESH_AFTER_TICK_MS = 5000;
const REFRESH_IDLE_MS = 60000;

function readData(root) {
  return JSON.parse(root.getElementById("chart-data").textContent);
}

// Markers carry no text: labels of many fills would pile up when zoomed out; hover shows them.
function markersOf(data) {
  const signals = data.signals.map((s) => ({
    time: s.bar_time,
    position: s.signal === "buy" ? "belowBar" : "aboveBar",
    color: s.signal === "buy" ? GREEN : RED,
    shape: "circle",
    size: 0.5,
  }));
  const fills = data.fills
    .filter((f) => f.price !== null)
    .map((f) => ({
      time: f.bar_time,
      position: "atPriceMiddle",
      price: f.price,
      color: f.side === "buy" ? GREEN : RED,
      shape: f.side === "buy" ? "arrowUp" : "arrowDown",
      id: `fill-${f.filled_at}-${f.side}`,
    }));
  return [...signals, ...fills].sort((a, b) => a.time - b.time);
}

function tooltipText(data, time) {
  const when = (seconds) => new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ");
  const lines = data.fills
    .filter((f) => f.bar_time === time)
    .map((f) => `${f.side} ${f.amount} @ ${f.price} (filled ${when(f.filled_at)})`);
  const signals = data.signals.filter((s) => s.bar_time === time).map((s) => `${s.signal} signal`);
  return [...lines, ...signals].join("\n");
}

function drawPrice(charts, box, data, options) {
  const chart = charts.createChart(box, options);
  const candles = chart.addSeries(charts.CandlestickSeries, {
    lastValueVisible: false,
    priceLineVisible: false,
  });
  const markers = charts.createSeriesMarkers(candles, []);
  const view = { chart, candles, markers, lastLine: null };
  setPrice(view, data);
  chart.timeScale().fitContent();
  const tooltip = document.getElementById("chart-tooltip");
  chart.subscribeCrosshairMove((param) => {
    const text = param.time === undefined ? "" : tooltipText(view.data, param.time);
    tooltip.hidden = !text;
    tooltip.textContent = text;
    if (text && param.point) {
      tooltip.style.left = `${param.point.x + 12}px`;
      tooltip.style.top = `${param.point.y + 12}px`;
    }
  });
  return view;
}

// The Last line is the page's Last price figure (the same number), not the last bar's close.
function setPrice(view, data) {
  view.data = data;
  view.candles.setData(data.bars);
  view.markers.setMarkers(markersOf(data));
  if (view.lastLine) view.candles.removePriceLine(view.lastLine);
  view.lastLine =
    data.last_price === null
      ? null
      : view.candles.createPriceLine({ price: data.last_price, title: "Last", color: "#555" });
}

function scheduleRefresh(update) {
  const data = readData(document);
  const delay = data.next_run_at
    ? Math.max(data.next_run_at * 1000 - Date.now(), 0) + REFRESH_AFTER_TICK_MS
    : REFRESH_IDLE_MS;
  window.setTimeout(async () => {
    try {
      const response = await fetch(window.location.href, { headers: { Accept: "text/html" } });
      if (response.ok) {
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        for (const id of ["live", "live-tables"]) {
          document.getElementById(id).replaceWith(fresh.getElementById(id));
        }
        update(readData(document));
      }
    } finally {
      scheduleRefresh(update);
    }
  }, delay);
}

document.addEventListener("DOMContentLoaded", () => {
  const data = readData(document);
  const priceBox = document.getElementById("price-chart");
  const charts = window.LightweightCharts;
  const options = { autoSize: true, timeScale: { timeVisible: true, secondsVisible: false } };
  let price = null;
  let equity = null;
  if (priceBox && data.bars.length) {
    price = drawPrice(charts, priceBox, data, options);
    const equityChart = charts.createChart(document.getElementById("equity-chart"), options);
    equity = equityChart.addSeries(charts.LineSeries, { color: "#2962ff" });
    equity.setData(data.equity);
    equityChart.timeScale().fitContent();
    priceBox.dataset.drawn = "true";
    window.strategyCharts = { price, equity };
  }
  scheduleRefresh((fresh) => {
    if (!price && fresh.bars.length) window.location.reload();
    if (price) setPrice(price, fresh);
    if (equity) equity.setData(fresh.equity);
    document.getElementById("strategy-page").dataset.refreshed = String(Date.now());
  });
});
