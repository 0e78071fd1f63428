// Unit tests of the card's pure logic, on states a bess entry really published in the
// integration's own tests (fixtures/bess-states.json). Run: scripts/test-card.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import {
  axisLabel,
  chartData,
  dataSignature,
  dayLabel,
  dayRows,
  describeRow,
  entityPrefix,
  findDailyViews,
  findSiblings,
  formatMoney,
  formatNumber,
  formatTime,
  intentLabel,
  normalizeConfig,
  nowPosition,
  powerRange,
  priceRange,
  rowIndexAt,
  savingsSummary,
  stateNumber,
  tableRows,
  timeline,
  withAlpha,
} from "../src/model.js";

const FIXTURES = JSON.parse(readFileSync(new URL("./fixtures/bess-states.json", import.meta.url)));
const TZ = "Europe/Stockholm";
const EN = { language: "en", number_format: "comma_decimal", time_format: "24" };

/** A hass object as the frontend has it, from one fixture ("quarter" or "hourly"). */
function hassOf(name, { registry = true } = {}) {
  const fixture = FIXTURES[name];
  return {
    states: structuredClone(fixture.states),
    entities: registry ? structuredClone(fixture.entities) : {},
    locale: EN,
    config: { time_zone: TZ },
  };
}

const local = (iso) => Date.parse(iso);

describe("configuration", () => {
  test("defaults to summary and chart, and orders the sections", () => {
    assert.deepEqual(normalizeConfig({ entity: "sensor.a_daily_view" }).sections, [
      "summary",
      "chart",
    ]);
    const config = normalizeConfig({ entity: "sensor.a", sections: ["table", "summary"] });
    assert.deepEqual(config.sections, ["summary", "table"]);
  });

  test("refuses a missing entity and unknown sections", () => {
    assert.throws(() => normalizeConfig({}), /entity/);
    assert.throws(() => normalizeConfig({ entity: "sensor.a", sections: ["pie"] }), /pie/);
    assert.throws(() => normalizeConfig({ entity: "sensor.a", sections: "chart" }), /list/);
  });

  test("drops an empty title", () => {
    assert.equal("title" in normalizeConfig({ entity: "sensor.a", title: " " }), false);
    assert.equal(normalizeConfig({ entity: "sensor.a", title: "Battery" }).title, "Battery");
  });
});

describe("finding the entities", () => {
  const expected = {
    daily_view: "sensor.home_battery_daily_view",
    total: "sensor.home_battery_total_savings_today",
    actual: "sensor.home_battery_actual_savings_today",
    predicted: "sensor.home_battery_predicted_savings_remaining",
    tomorrow: "sensor.home_battery_tomorrow_planned_savings",
    tomorrow_status: "sensor.home_battery_tomorrow_plan_status",
    control: "sensor.home_battery_control_status",
    month: "sensor.home_battery_savings_this_month",
  };

  test("by the entity registry's device and translation keys", () => {
    assert.deepEqual(findSiblings(hassOf("quarter"), "sensor.home_battery_daily_view"), expected);
  });

  test("from any sibling, not only the daily view", () => {
    const hass = hassOf("quarter");
    assert.deepEqual(findSiblings(hass, "sensor.home_battery_control_status"), expected);
  });

  test("by the registry even when the entity ids were renamed", () => {
    const hass = hassOf("quarter");
    const renamed = (id) => id.replace("home_battery_", "garage_");
    hass.states = Object.fromEntries(
      Object.entries(hass.states).map(([id, state]) => [renamed(id), state]),
    );
    hass.entities = Object.fromEntries(
      Object.entries(hass.entities).map(([id, entry]) => [
        renamed(id),
        { ...entry, entity_id: renamed(id) },
      ]),
    );
    hass.entities["sensor.garage_daily_view"].entity_id = "sensor.garage_daily_view";
    // A renamed daily view: no known suffix, only the registry can tell.
    hass.entities["sensor.my_plan"] = { ...hass.entities["sensor.garage_daily_view"] };
    hass.entities["sensor.my_plan"].entity_id = "sensor.my_plan";
    const siblings = findSiblings(hass, "sensor.my_plan");
    assert.equal(siblings.control, "sensor.garage_control_status");
    assert.equal(siblings.tomorrow, "sensor.garage_tomorrow_planned_savings");
  });

  test("by the entity-id prefix without the registry", () => {
    assert.deepEqual(
      findSiblings(hassOf("quarter", { registry: false }), "sensor.home_battery_daily_view"),
      expected,
    );
    assert.equal(
      entityPrefix("sensor.home_battery_tomorrow_planned_savings"),
      "sensor.home_battery_",
    );
    assert.equal(entityPrefix("sensor.nordpool"), null);
  });

  test("leaves out the month when bess has no such sensor", () => {
    const hass = hassOf("quarter", { registry: false });
    delete hass.states["sensor.home_battery_savings_this_month"];
    assert.equal("month" in findSiblings(hass, "sensor.home_battery_daily_view"), false);
  });

  test("ignores entities of other integrations and devices", () => {
    const hass = hassOf("quarter");
    hass.entities["sensor.other_control_status"] = {
      entity_id: "sensor.other_control_status",
      device_id: "another",
      platform: "bess",
      translation_key: "control_status",
    };
    hass.entities["sensor.weather_daily_view"] = {
      entity_id: "sensor.weather_daily_view",
      device_id: hass.entities["sensor.home_battery_daily_view"].device_id,
      platform: "weather",
      translation_key: "control_status",
    };
    assert.equal(
      findSiblings(hass, "sensor.home_battery_daily_view").control,
      "sensor.home_battery_control_status",
    );
  });

  test("the card picker's stub picks the first daily view of bess", () => {
    const hass = hassOf("quarter");
    hass.states["sensor.weather_daily_view"] = { state: "x", attributes: {} };
    assert.deepEqual(findDailyViews(hass), ["sensor.home_battery_daily_view"]);
    const unregistered = hassOf("quarter", { registry: false });
    unregistered.states["sensor.weather_daily_view"] = { state: "x", attributes: {} };
    assert.deepEqual(findDailyViews(unregistered), ["sensor.home_battery_daily_view"]);
    assert.deepEqual(findDailyViews({ states: {}, entities: {} }), []);
  });
});

describe("rows of the daily view", () => {
  const quarter = hassOf("quarter").states;
  const today = quarter["sensor.home_battery_daily_view"].attributes;
  const tomorrow = quarter["sensor.home_battery_tomorrow_planned_savings"].attributes;

  test("quarter-hour periods are used when the period is shorter than an hour", () => {
    const rows = dayRows(today);
    assert.equal(rows.length, 10);
    assert.equal(rows[0].start, local("2026-11-24T10:00:00+01:00"));
    assert.equal(rows[0].end - rows[0].start, 15 * 60_000);
    assert.deepEqual(
      rows.map((row) => row.source),
      ["missing", "missing", "missing", "actual", "actual", ...Array(5).fill("predicted")],
    );
    assert.equal(rows[6].batteryKw, -5);
    assert.equal(rows[6].buyPrice, 0.7999999999999999);
  });

  test("hours are used for hourly plans, and on request", () => {
    const hourly = hassOf("hourly").states["sensor.home_battery_daily_view"].attributes;
    const rows = dayRows(hourly);
    assert.equal(rows.length, 4);
    assert.equal(rows[1].end - rows[1].start, 3_600_000);
    assert.equal(rows[1].socEnd, 10);
    assert.equal(dayRows(today, { resolution: "hour" }).length, 4);
  });

  test("tomorrow's rows are planned and follow today's", () => {
    const rows = timeline(
      { period_minutes: 15, periods: today.periods.slice(0, 2), hours: [] },
      tomorrow,
    );
    assert.equal(rows.length, 6);
    assert.deepEqual(
      rows.slice(2).map((row) => row.source),
      ["planned", "planned", "planned", "planned"],
    );
    assert.equal(rows[2].start, local("2026-11-25T00:00:00+01:00"));
  });

  test("a plan that overlaps today's rows is not drawn twice", () => {
    const overlapping = { period_minutes: 15, periods: today.periods.slice(5) };
    const rows = timeline(today, overlapping);
    assert.equal(rows.length, 10);
  });

  test("missing or malformed attributes give no rows", () => {
    assert.deepEqual(dayRows(undefined), []);
    assert.deepEqual(dayRows({ hours: "no" }), []);
    assert.deepEqual(dayRows({ hours: [{ start: "never" }] }), []);
    assert.deepEqual(timeline(undefined, { hours: [] }), []);
  });

  test("the table lists hours of today and tomorrow", () => {
    const rows = tableRows(today, tomorrow);
    assert.equal(rows.length, 6);
    assert.equal(rows[4].start, local("2026-11-25T00:00:00+01:00"));
    assert.equal(rows[4].source, "planned");
  });
});

describe("chart series", () => {
  const states = hassOf("quarter").states;
  const rows = timeline(
    states["sensor.home_battery_daily_view"].attributes,
    states["sensor.home_battery_tomorrow_planned_savings"].attributes,
  );

  test("x in seconds with a closing point at the end of the last row", () => {
    const data = chartData(rows);
    assert.equal(data.x.length, rows.length + 1);
    assert.equal(data.x[0], rows[0].start / 1000);
    assert.equal(data.x.at(-1), rows.at(-1).end / 1000);
    assert.equal(data.price.at(-1), rows.at(-1).buyPrice);
  });

  test("measured power is solid, planned pale, missing neither", () => {
    const data = chartData(rows);
    assert.deepEqual(data.measured.slice(0, 6), [null, null, null, 0, 0, null]);
    assert.deepEqual(data.planned.slice(0, 7), [null, null, null, null, null, 0, -5]);
    assert.equal(data.planned[10], 5); // tomorrow's first quarter charges at 5 kW
  });

  test("the SOC line runs through each row's start and the last row's end", () => {
    const data = chartData(rows);
    assert.equal(data.soc[0], null); // not recorded
    assert.equal(data.soc[3], 50);
    assert.equal(data.soc.at(-1), rows.at(-1).socEnd);
  });

  test("a row without a starting SOC continues from the previous row's end", () => {
    const base = { source: "actual", buyPrice: 1, batteryKw: 1, socEnd: 40 };
    const data = chartData([
      { ...base, start: 0, end: 900_000, socStart: 30 },
      { ...base, start: 900_000, end: 1_800_000, socStart: null, socEnd: 50 },
    ]);
    assert.deepEqual(data.soc, [30, 40, 50]);
  });

  test("axis ranges", () => {
    assert.deepEqual(powerRange([-5, null], [2]), [-5.5, 5.5]);
    assert.deepEqual(powerRange([null]), [-1, 1]);
    const [low, high] = priceRange([0.5, 2]);
    assert.equal(low, 0);
    assert.ok(high > 2);
    assert.ok(priceRange([-0.2, 1])[0] < -0.2);
    assert.deepEqual(priceRange([null]), [0, 1]);
  });
});

describe("now", () => {
  const rows = dayRows(hassOf("quarter").states["sensor.home_battery_daily_view"].attributes);

  test("the marker stands in the period in progress", () => {
    const now = local(FIXTURES.quarter.now);
    const position = nowPosition(rows, now);
    assert.equal(position.t, now / 1000);
    assert.equal(position.index, 5);
    assert.equal(rows[position.index].start, local("2026-11-24T11:15:00+01:00"));
    assert.equal(position.fraction, 75 / 150);
  });

  test("no marker outside the chart", () => {
    assert.equal(nowPosition(rows, rows[0].start - 1), null);
    assert.equal(nowPosition(rows, rows.at(-1).end), null);
    assert.equal(nowPosition([], 0), null);
  });

  test("the row under a pointer", () => {
    assert.equal(rowIndexAt(rows, rows[3].start), 3);
    assert.equal(rowIndexAt(rows, rows[3].end - 1), 3);
    assert.equal(rowIndexAt(rows, rows.at(-1).end), -1);
    assert.equal(rowIndexAt([], 0), -1);
  });
});

describe("savings", () => {
  test("today measured and planned, tomorrow, the month and control status", () => {
    const hass = hassOf("quarter");
    const summary = savingsSummary(hass, findSiblings(hass, "sensor.home_battery_daily_view"));
    assert.equal(summary.unit, "SEK");
    assert.equal(summary.today.total, 14.6775709833795);
    assert.equal(summary.today.measured, 0);
    assert.equal(summary.today.planned, 14.6775709833795);
    assert.equal(summary.tomorrow.value, 23.1319608725762);
    assert.equal(summary.tomorrow.status, "planned");
    assert.deepEqual(summary.month, { value: 0 });
    assert.equal(summary.control, "monitoring");
  });

  test("no month row without the month sensor, and unknown values are null", () => {
    const hass = hassOf("quarter", { registry: false });
    delete hass.states["sensor.home_battery_savings_this_month"];
    hass.states["sensor.home_battery_tomorrow_planned_savings"].state = "unknown";
    hass.states["sensor.home_battery_tomorrow_plan_status"].state = "waiting_for_prices";
    hass.states["sensor.home_battery_total_savings_today"].state = "unavailable";
    const summary = savingsSummary(hass, findSiblings(hass, "sensor.home_battery_daily_view"));
    assert.equal(summary.month, null);
    assert.equal(summary.tomorrow.value, null);
    assert.equal(summary.tomorrow.status, "waiting_for_prices");
    // The total follows from its parts when its own sensor cannot say.
    assert.equal(summary.today.total, 14.6775709833795);
  });

  test("state numbers", () => {
    assert.equal(stateNumber({ state: "1.5" }), 1.5);
    assert.equal(stateNumber({ state: "-0.25" }), -0.25);
    assert.equal(stateNumber({ state: "" }), null);
    assert.equal(stateNumber({ state: "unknown" }), null);
    assert.equal(stateNumber(undefined), null);
  });
});

describe("formatting", () => {
  test("numbers and money follow the user's number format", () => {
    assert.equal(formatMoney(1234.5, "SEK", EN), "1,234.50 SEK");
    assert.equal(
      formatNumber(1234.5, { language: "en", number_format: "decimal_comma" }),
      "1.234,50",
    );
    assert.equal(formatNumber(1234.5, { language: "en", number_format: "none" }), "1234.50");
    assert.equal(formatMoney(null, "SEK", EN), "—");
    assert.equal(formatNumber(Number.NaN, EN), "—");
    assert.equal(formatMoney(-0.001, "EUR", EN), "0.00 EUR");
    assert.equal(formatNumber(-0.4, EN, 0), "0");
    assert.equal(formatNumber(-0.5, EN, 0), "-1");
  });

  test("times in the chosen zone and clock", () => {
    const start = local("2026-11-24T13:15:00+01:00");
    assert.equal(formatTime(start, EN, TZ), "13:15");
    assert.match(formatTime(start, { language: "en", time_format: "12" }, TZ), /^1:15\sPM$/);
    const morning = local("2026-11-24T09:05:00+01:00");
    assert.equal(formatTime(morning, { language: "sv", time_format: "language" }, TZ), "09:05");
    assert.match(
      formatTime(morning, { language: "en", time_format: "language" }, TZ),
      /^9:05\sAM$/,
    );
    const now = local("2026-11-24T23:50:00+01:00");
    assert.equal(dayLabel(start, now, EN, TZ), "Today");
    assert.equal(dayLabel(local("2026-11-25T00:15:00+01:00"), now, EN, TZ), "Tomorrow");
    assert.equal(dayLabel(local("2026-11-26T00:15:00+01:00"), now, EN, TZ), "Thursday");
  });

  test("the time axis shows clock times, and the day at midnight", () => {
    assert.equal(axisLabel(local("2026-11-24T06:00:00+01:00"), EN, TZ), "06:00");
    const midnight = axisLabel(local("2026-11-25T00:00:00+01:00"), EN, TZ);
    assert.match(midnight, /^(Wed 25|25 Wed)$/); // the order is the language's
    assert.equal(axisLabel(local("2026-11-24T06:00:00+01:00"), { language: "sv" }, TZ), "06:00");
  });

  test("a period's details", () => {
    const rows = dayRows(hassOf("quarter").states["sensor.home_battery_daily_view"].attributes);
    const details = describeRow(rows[6], {
      unit: "SEK",
      locale: EN,
      timeZone: TZ,
      nowMs: local(FIXTURES.quarter.now),
    });
    assert.equal(details.title, "Today 11:30–11:45");
    assert.equal(details.source, "planned");
    assert.deepEqual(Object.fromEntries(details.fields), {
      "Buy price": "0.800 SEK/kWh",
      Battery: "-5.00 kW",
      SOC: "50 → 37 %",
      Savings: formatMoney(rows[6].savings, "SEK", EN),
      Intent: "Export arbitrage",
    });
    const missing = describeRow(rows[0], { unit: "SEK", locale: EN, timeZone: TZ });
    assert.equal(missing.source, "not recorded");
    assert.deepEqual(Object.fromEntries(missing.fields), {
      "Buy price": "—",
      Battery: "—",
      Savings: "—",
    });
  });

  test("intents use Home Assistant's translation when it has one", () => {
    assert.equal(intentLabel("grid_charging"), "Grid charging");
    assert.equal(
      intentLabel("grid_charging", () => "Nätladdning"),
      "Nätladdning",
    );
    assert.equal(
      intentLabel("grid_charging", () => ""),
      "Grid charging",
    );
  });

  test("colors with an opacity", () => {
    assert.equal(withAlpha("#03a9f4", 0.4), "rgba(3, 169, 244, 0.4)");
    assert.equal(withAlpha("#fff", 0.5), "rgba(255, 255, 255, 0.5)");
    assert.equal(withAlpha("rgb(3, 169, 244)", 0.4), "rgba(3, 169, 244, 0.4)");
    assert.equal(withAlpha("rgba(3,169,244,1)", 0.4), "rgba(3, 169, 244, 0.4)");
    assert.equal(withAlpha("var(--x)", 0.4), "var(--x)");
  });
});

test("the chart is rebuilt only when the daily view or tomorrow's plan change", () => {
  const hass = hassOf("quarter");
  const siblings = findSiblings(hass, "sensor.home_battery_daily_view");
  const before = dataSignature(hass, siblings);
  hass.states["sensor.home_battery_control_status"].last_updated = "later";
  assert.equal(dataSignature(hass, siblings), before);
  hass.states["sensor.home_battery_daily_view"].last_updated = "later";
  assert.notEqual(dataSignature(hass, siblings), before);
});
