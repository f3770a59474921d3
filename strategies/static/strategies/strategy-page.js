// The strategy page's charts: candles with signals and fills marked, and the equity curve.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const priceBox = document.getElementById("price-chart");
  if (!priceBox || !data.bars.length) return;
  const charts = window.LightweightCharts;
  const options = { autoSize: true, timeScale: { timeVisible: true, secondsVisible: false } };

  const priceChart = charts.createChart(priceBox, options);
  const candles = priceChart.addSeries(charts.CandlestickSeries, {});
  candles.setData(data.bars);
  const markers = [
    ...data.signals.map((s) => ({
      time: s.bar_time,
      position: s.signal === "buy" ? "belowBar" : "aboveBar",
      color: s.signal === "buy" ? "#26a69a" : "#ef5350",
      shape: "circle",
      text: s.signal,
    })),
    ...data.fills.map((f) => ({
      time: f.bar_time,
      position: f.side === "buy" ? "belowBar" : "aboveBar",
      color: f.side === "buy" ? "#26a69a" : "#ef5350",
      shape: f.side === "buy" ? "arrowUp" : "arrowDown",
      text: `${f.side} ${Number(f.amount.toPrecision(4))}`,
    })),
  ].sort((a, b) => a.time - b.time);
  charts.createSeriesMarkers(candles, markers);
  priceChart.timeScale().fitContent();

  const equityBox = document.getElementById("equity-chart");
  if (equityBox && data.equity.length) {
    const equityChart = charts.createChart(equityBox, options);
    equityChart.addSeries(charts.LineSeries, { color: "#2962ff" }).setData(data.equity);
    equityChart.timeScale().fitContent();
  }
  priceBox.dataset.drawn = "true";
});
