// The chart: uPlot options for one timeline of bess rows (see model.chartData), drawn in the
// theme's colors. Battery power as bars (measured solid, planned pale), the buy price as a
// stepped line, the SOC as a line on its own 0–100 % scale, and a marker at "now".
import uPlot from "uplot";

import {
  axisLabel,
  chartData,
  formatNumber,
  nowPosition,
  powerRange,
  priceRange,
} from "./model.js";

export const CHART_HEIGHT = 220;

/** uPlot's time axis in the given time zone (the browser's when none is given). */
function tzDateFn(timeZone) {
  return timeZone ? (seconds) => uPlot.tzDate(new Date(seconds * 1000), timeZone) : undefined;
}

/**
 * Build the uPlot options and data.
 *
 * `colors` holds resolved CSS colors (canvas cannot read CSS variables); `state()` returns
 * what changes without a rebuild: the selected row and the time now.
 */
export function buildChart({ rows, width, colors, locale, timeZone, state }) {
  const data = chartData(rows);
  const bars = uPlot.paths.bars({ size: [0.86, Infinity], align: 1, gap: 1 });
  const axis = {
    stroke: colors.text,
    grid: { stroke: colors.grid, width: 1 },
    ticks: { stroke: colors.grid, width: 1, size: 4 },
    font: `11px ${colors.font}`,
  };
  const options = {
    width,
    height: CHART_HEIGHT,
    tzDate: tzDateFn(timeZone),
    legend: { show: false },
    padding: [8, 4, 0, 4],
    cursor: {
      y: false,
      points: { show: false },
      drag: { x: false, y: false, setScale: false },
    },
    select: { show: false },
    scales: {
      x: { time: true },
      price: { range: () => priceRange(data.price) },
      kw: { range: () => powerRange(data.measured, data.planned) },
      soc: { range: [0, 100] },
    },
    axes: [
      {
        ...axis,
        space: 56,
        values: (u, splits) => splits.map((value) => axisLabel(value * 1000, locale, timeZone)),
      },
      {
        ...axis,
        scale: "price",
        size: 46,
        values: (u, values) => values.map((value) => formatNumber(value, locale, 2)),
      },
      {
        ...axis,
        scale: "kw",
        side: 1,
        size: 40,
        grid: { show: false },
        values: (u, values) => values.map((value) => `${formatNumber(value, locale, 0)}`),
      },
    ],
    series: [
      {},
      {
        label: "Battery, measured (kW)",
        scale: "kw",
        fill: colors.battery,
        stroke: colors.battery,
        width: 0,
        paths: bars,
        points: { show: false },
      },
      {
        label: "Battery, planned (kW)",
        scale: "kw",
        fill: colors.batteryPlanned,
        stroke: colors.batteryPlanned,
        width: 0,
        paths: bars,
        points: { show: false },
      },
      {
        label: "Buy price",
        scale: "price",
        stroke: colors.price,
        width: 2,
        paths: uPlot.paths.stepped({ align: 1 }),
        points: { show: false },
      },
      {
        label: "SOC (%)",
        scale: "soc",
        stroke: colors.soc,
        width: 2,
        points: { show: false },
      },
    ],
    hooks: {
      drawClear: [(u) => drawSelection(u, rows, state(), colors)],
      draw: [(u) => drawNow(u, rows, state(), colors)],
    },
  };
  return {
    options,
    data: [data.x, data.measured, data.planned, data.price, data.soc],
  };
}

/** A band behind the selected period. */
function drawSelection(u, rows, { selected }, colors) {
  const row = selected === null || selected === undefined ? null : rows[selected];
  if (!row) return;
  const left = u.valToPos(row.start / 1000, "x", true);
  const right = u.valToPos(row.end / 1000, "x", true);
  const { ctx, bbox } = u;
  ctx.save();
  ctx.fillStyle = colors.selection;
  ctx.fillRect(left, bbox.top, Math.max(right - left, 2), bbox.height);
  ctx.restore();
}

/** A dashed vertical line at the time now. */
function drawNow(u, rows, { nowMs }, colors) {
  const position = nowPosition(rows, nowMs);
  if (!position) return;
  const x = Math.round(u.valToPos(position.t, "x", true));
  const { ctx, bbox } = u;
  const ratio = window.devicePixelRatio || 1;
  ctx.save();
  ctx.strokeStyle = colors.now;
  ctx.lineWidth = 1.5 * ratio;
  ctx.setLineDash([4 * ratio, 3 * ratio]);
  ctx.beginPath();
  ctx.moveTo(x, bbox.top);
  ctx.lineTo(x, bbox.top + bbox.height);
  ctx.stroke();
  ctx.restore();
}

export { uPlot };
