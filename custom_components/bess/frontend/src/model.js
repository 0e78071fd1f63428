// The bess card's pure logic: which entities to read, and what their attributes mean as
// chart series, savings figures and period details. No DOM, Lit or uPlot here, so that
// node's test runner can check all of it (test/model.test.js, run by scripts/test-card).

export const DOMAIN = "bess";
export const CARD_TYPE = "bess-card";
export const SECTIONS = ["summary", "chart", "table"];
export const DEFAULT_SECTIONS = ["summary", "chart"];

// The sibling entities the card reads: each bess sensor's translation key (how the entity
// registry names it, whatever its entity id became) and the entity-id suffix it gets from its
// English name (the fallback where the registry is not at hand).
export const ROLES = {
  daily_view: { key: "daily_view", suffix: "daily_view" },
  total: { key: "total_savings_today", suffix: "total_savings_today" },
  actual: { key: "actual_savings_today", suffix: "actual_savings_today" },
  predicted: { key: "predicted_savings_remaining", suffix: "predicted_savings_remaining" },
  tomorrow: { key: "tomorrow_savings", suffix: "tomorrow_planned_savings" },
  tomorrow_status: { key: "tomorrow_status", suffix: "tomorrow_plan_status" },
  control: { key: "control_status", suffix: "control_status" },
  month: { key: "savings_this_month", suffix: "savings_this_month" },
};

// Sources of the daily view's rows that were measured (the hour in progress is partly so).
const MEASURED = new Set(["actual", "partial"]);
const HOUR_MS = 3_600_000;

const INTENT_LABELS = {
  grid_charging: "Grid charging",
  solar_storage: "Solar storage",
  load_support: "Load support",
  export_arbitrage: "Export arbitrage",
  idle: "Idle",
};
const SOURCE_LABELS = {
  actual: "measured",
  partial: "measured in part",
  predicted: "planned",
  planned: "planned",
  missing: "not recorded",
};

/** The card's configuration with defaults, sections in their display order; throws if unusable. */
export function normalizeConfig(config) {
  if (!config || typeof config !== "object") {
    throw new Error("bess-card: the configuration must be a mapping");
  }
  if (typeof config.entity !== "string" || !config.entity.includes(".")) {
    throw new Error(
      "bess-card: set `entity` to a bess sensor, e.g. sensor.home_battery_daily_view",
    );
  }
  let sections = DEFAULT_SECTIONS;
  if (config.sections !== undefined) {
    if (!Array.isArray(config.sections)) {
      throw new Error(`bess-card: \`sections\` must be a list of ${SECTIONS.join(", ")}`);
    }
    const unknown = config.sections.filter((section) => !SECTIONS.includes(section));
    if (unknown.length) {
      throw new Error(
        `bess-card: unknown section ${unknown.join(", ")} (use ${SECTIONS.join(", ")})`,
      );
    }
    sections = SECTIONS.filter((section) => config.sections.includes(section));
  }
  const normalized = { ...config, sections };
  if (typeof normalized.title !== "string" || !normalized.title.trim()) delete normalized.title;
  return normalized;
}

/** The part of a bess entity id before its known suffix ("sensor.home_battery_"), or null. */
export function entityPrefix(entityId) {
  const suffixes = Object.values(ROLES)
    .map((role) => role.suffix)
    .sort((a, b) => b.length - a.length);
  for (const suffix of suffixes) {
    if (entityId.endsWith(`_${suffix}`)) return entityId.slice(0, -suffix.length);
  }
  return null;
}

/**
 * The entity ids of the bess entities beside `entityId`, by role (see ROLES).
 *
 * Preferably through the entity registry (`hass.entities`): the entities of the same bess
 * device, by translation key, so renamed entity ids are still found. Roles left over are
 * looked up by the entity-id prefix, among the states that exist.
 */
export function findSiblings(hass, entityId) {
  const found = {};
  const entities = hass?.entities ?? {};
  const states = hass?.states ?? {};
  const entry = entities[entityId];
  if (entry?.device_id && entry.platform === DOMAIN) {
    for (const other of Object.values(entities)) {
      if (other.device_id !== entry.device_id || other.platform !== DOMAIN) continue;
      for (const [role, { key }] of Object.entries(ROLES)) {
        if (other.translation_key === key && !(role in found)) found[role] = other.entity_id;
      }
    }
  }
  const prefix = entityPrefix(entityId);
  if (prefix) {
    for (const [role, { suffix }] of Object.entries(ROLES)) {
      const candidate = `${prefix}${suffix}`;
      if (!(role in found) && candidate in states) found[role] = candidate;
    }
  }
  return found;
}

/** Whether a state has the daily view's shape (hours and a period length). */
function looksLikeDailyView(stateObj) {
  const attributes = stateObj?.attributes;
  return Boolean(attributes && Array.isArray(attributes.hours) && "period_minutes" in attributes);
}

/** Every bess daily-view sensor, sorted: from the registry, else by entity id and shape. */
export function findDailyViews(hass) {
  const states = hass?.states ?? {};
  const registered = Object.values(hass?.entities ?? {})
    .filter((entry) => entry.platform === DOMAIN && entry.translation_key === ROLES.daily_view.key)
    .map((entry) => entry.entity_id)
    .filter((entityId) => entityId in states);
  if (registered.length) return registered.sort();
  return Object.keys(states)
    .filter((entityId) => /^sensor\..+_daily_view$/.test(entityId))
    .filter((entityId) => looksLikeDailyView(states[entityId]))
    .sort();
}

function finite(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * The rows of one day's sensor attributes: its periods when they are shorter than an hour
 * (and present), else its hours. Each row has absolute start and end times (ms) and the
 * numbers the card shows; `planned` marks every row as planned (tomorrow's sensor).
 */
export function dayRows(attributes, { planned = false, resolution = "auto" } = {}) {
  if (!attributes) return [];
  const period = finite(attributes.period_minutes) ?? 60;
  const usePeriods =
    resolution !== "hour" &&
    period < 60 &&
    Array.isArray(attributes.periods) &&
    attributes.periods.length > 0;
  const items = usePeriods ? attributes.periods : attributes.hours;
  if (!Array.isArray(items)) return [];
  const minutes = usePeriods ? period : 60;
  const rows = [];
  for (const item of items) {
    const start = Date.parse(item?.start);
    if (!Number.isFinite(start)) continue;
    rows.push({
      start,
      end: start + minutes * 60_000,
      minutes,
      source: planned ? "planned" : (item.source ?? "missing"),
      buyPrice: finite(item.buy_price),
      sellPrice: finite(item.sell_price),
      batteryKw: finite(item.battery_action_kw),
      socStart: finite(item.soc_start_percent),
      socEnd: finite(item.soc_end_percent),
      savings: finite(item.savings),
      loadKwh: finite(item.load_kwh),
      solarKwh: finite(item.solar_kwh),
      gridImportKwh: finite(item.grid_import_kwh),
      gridExportKwh: finite(item.grid_export_kwh),
      intent: typeof item.intent === "string" ? item.intent : null,
    });
  }
  return rows.sort((a, b) => a.start - b.start);
}

/** Today's rows, then tomorrow's planned rows that come after them: the whole horizon. */
export function timeline(todayAttributes, tomorrowAttributes, options = {}) {
  const rows = dayRows(todayAttributes, options);
  const end = rows.length ? rows[rows.length - 1].end : -Infinity;
  for (const row of dayRows(tomorrowAttributes, { ...options, planned: true })) {
    if (row.start >= end) rows.push(row);
  }
  return rows;
}

/** Whether a row was measured (drawn solid) rather than planned (drawn pale). */
export function isMeasured(row) {
  return MEASURED.has(row.source);
}

/**
 * The chart's series (uPlot's data layout: x in seconds, then one array per series).
 *
 * Prices are steps that hold from a row's start to the next row's; one more point at the
 * end of the last row closes the last step. Battery power is split in measured and planned
 * bars; the SOC is a line through each row's starting SOC and, at the end, the last one's end.
 */
export function chartData(rows) {
  const x = [];
  const price = [];
  const measured = [];
  const planned = [];
  const soc = [];
  rows.forEach((row, index) => {
    const previous = index > 0 ? rows[index - 1] : null;
    x.push(row.start / 1000);
    price.push(row.buyPrice);
    const recorded = isMeasured(row);
    measured.push(recorded ? row.batteryKw : null);
    planned.push(!recorded && row.source !== "missing" ? row.batteryKw : null);
    const continues = previous && previous.end === row.start;
    soc.push(row.socStart ?? (continues ? previous.socEnd : null));
  });
  if (rows.length) {
    const last = rows[rows.length - 1];
    x.push(last.end / 1000);
    price.push(last.buyPrice);
    measured.push(null);
    planned.push(null);
    soc.push(last.socEnd);
  }
  return { x, price, measured, planned, soc };
}

/** The index of the row that holds the instant `ms` (start ≤ ms < end), or -1. */
export function rowIndexAt(rows, ms) {
  let low = 0;
  let high = rows.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const row = rows[middle];
    if (ms < row.start) high = middle - 1;
    else if (ms >= row.end) low = middle + 1;
    else return middle;
  }
  return -1;
}

/** Where "now" falls on the chart: seconds, the row in progress, the fraction of the range. */
export function nowPosition(rows, nowMs) {
  if (!rows.length) return null;
  const first = rows[0].start;
  const last = rows[rows.length - 1].end;
  if (nowMs < first || nowMs >= last) return null;
  return {
    t: nowMs / 1000,
    index: rowIndexAt(rows, nowMs),
    fraction: (nowMs - first) / (last - first),
  };
}

function paddedRange(values, { symmetric = false, floor = null } = {}) {
  const numbers = values.filter((value) => value !== null && value !== undefined);
  if (symmetric) {
    const largest = Math.max(0, ...numbers.map(Math.abs));
    const half = largest > 0 ? largest * 1.1 : 1;
    return [-half, half];
  }
  let low = Math.min(floor ?? Infinity, ...numbers);
  let high = Math.max(...numbers);
  if (!Number.isFinite(low) || !Number.isFinite(high)) return [0, 1];
  if (high === low) high = low + 1;
  const pad = (high - low) * 0.08;
  return [low < 0 ? low - pad : low, high + pad];
}

/** The price axis: from 0 (or the lowest negative price) to a little above the highest. */
export function priceRange(prices) {
  return paddedRange(prices, { floor: 0 });
}

/** The power axis: symmetric around 0, so charging goes up and discharging down. */
export function powerRange(...series) {
  return paddedRange(series.flat(), { symmetric: true });
}

/** A number from a state ("unknown", "unavailable" and the empty string give null). */
export function stateNumber(stateObj) {
  if (!stateObj || typeof stateObj.state !== "string" || stateObj.state.trim() === "") return null;
  const value = Number(stateObj.state);
  return Number.isFinite(value) ? value : null;
}

/** The summary: today's savings (measured, planned), tomorrow's, the month's, control status. */
export function savingsSummary(hass, siblings) {
  const states = hass?.states ?? {};
  const stateOf = (role) => (siblings[role] ? states[siblings[role]] : undefined);
  const unit =
    ["total", "actual", "predicted", "tomorrow", "month"]
      .map((role) => stateOf(role)?.attributes?.unit_of_measurement)
      .find((value) => typeof value === "string" && value) ?? "";
  const measured = stateNumber(stateOf("actual"));
  const planned = stateNumber(stateOf("predicted"));
  let total = stateNumber(stateOf("total"));
  if (total === null && measured !== null && planned !== null) total = measured + planned;
  const month = stateOf("month");
  return {
    unit,
    today: { total, measured, planned },
    tomorrow: {
      value: stateNumber(stateOf("tomorrow")),
      status: stateOf("tomorrow_status")?.state ?? null,
    },
    month: month ? { value: stateNumber(month) } : null,
    control: stateOf("control")?.state ?? null,
  };
}

/** The locale to format numbers with, following the user's number-format setting. */
export function numberLocale(locale) {
  switch (locale?.number_format) {
    case "comma_decimal":
      return ["en-US", "en"];
    case "decimal_comma":
      return ["de", "es", "it"];
    case "space_comma":
      return ["fr", "sv", "cs"];
    case "system":
      return undefined;
    default:
      return locale?.language;
  }
}

/** A number with `digits` decimals in the user's format, or "—" when there is none. */
export function formatNumber(value, locale, digits = 2) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  // A value that rounds to zero is shown as 0, never as "-0.00".
  if (Number(value.toFixed(digits)) === 0) value = 0;
  return new Intl.NumberFormat(numberLocale(locale), {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
    useGrouping: locale?.number_format !== "none",
  }).format(value);
}

/** An amount of money with its unit ("12.34 SEK"), or "—". */
export function formatMoney(value, unit, locale) {
  const number = formatNumber(value, locale, 2);
  return number === "—" || !unit ? number : `${number} ${unit}`;
}

/** The time zone to show times in: the server's when the user asks for it, else the browser's. */
export function displayTimeZone(hass) {
  return hass?.locale?.time_zone === "server" ? hass?.config?.time_zone : undefined;
}

/** Whether the user's clock shows AM/PM: their choice, else their language's custom. */
export function usesAmPm(locale) {
  if (locale?.time_format === "12") return true;
  if (locale?.time_format === "24") return false;
  const language = locale?.time_format === "system" ? undefined : locale?.language;
  const { hourCycle } = new Intl.DateTimeFormat(language, { hour: "numeric" }).resolvedOptions();
  return hourCycle === "h11" || hourCycle === "h12";
}

/** A clock time ("10:15", "1:15 PM") in the user's format and time zone, as Home Assistant's. */
export function formatTime(ms, locale, timeZone) {
  const amPm = usesAmPm(locale);
  return new Intl.DateTimeFormat(locale?.time_format === "system" ? undefined : locale?.language, {
    hour: amPm ? "numeric" : "2-digit",
    minute: "2-digit",
    hourCycle: amPm ? "h12" : "h23",
    timeZone,
  }).format(new Date(ms));
}

/** A label of the chart's time axis: the clock time, or at midnight the day ("Wed 25"). */
export function axisLabel(ms, locale, timeZone) {
  const parts = new Intl.DateTimeFormat("en-GB", {
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZone,
  }).format(new Date(ms));
  if (parts !== "00:00") return formatTime(ms, locale, timeZone);
  return new Intl.DateTimeFormat(locale?.language, {
    weekday: "short",
    day: "numeric",
    timeZone,
  }).format(new Date(ms));
}

/** The local date key ("2026-11-24") of an instant in a time zone (the browser's if none). */
export function localDate(ms, timeZone) {
  return new Intl.DateTimeFormat("en-CA", {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    timeZone,
  }).format(new Date(ms));
}

/** "Today", "Tomorrow" or the weekday of the day an instant falls on, seen from `nowMs`. */
export function dayLabel(ms, nowMs, locale, timeZone) {
  const day = localDate(ms, timeZone);
  if (day === localDate(nowMs, timeZone)) return "Today";
  if (day === localDate(nowMs + 24 * HOUR_MS, timeZone)) return "Tomorrow";
  return new Intl.DateTimeFormat(locale?.language, { weekday: "long", timeZone }).format(
    new Date(ms),
  );
}

/** A period's numbers as the details row shows them: a title and label/value pairs. */
export function describeRow(
  row,
  { unit = "", locale, timeZone, nowMs = Date.now(), localize } = {},
) {
  const from = formatTime(row.start, locale, timeZone);
  const span = `${from}–${formatTime(row.end, locale, timeZone)}`;
  const title = `${dayLabel(row.start, nowMs, locale, timeZone)} ${span}`;
  const priceUnit = unit ? ` ${unit}/kWh` : "";
  const fields = [
    [
      "Buy price",
      `${formatNumber(row.buyPrice, locale, 3)}${row.buyPrice === null ? "" : priceUnit}`,
    ],
  ];
  if (row.sellPrice !== null && row.sellPrice !== row.buyPrice) {
    fields.push(["Sell price", `${formatNumber(row.sellPrice, locale, 3)}${priceUnit}`]);
  }
  const power = row.batteryKw === null ? "—" : `${formatNumber(row.batteryKw, locale, 2)} kW`;
  fields.push(["Battery", power]);
  if (row.socStart !== null || row.socEnd !== null) {
    fields.push([
      "SOC",
      `${formatNumber(row.socStart, locale, 0)} → ${formatNumber(row.socEnd, locale, 0)} %`,
    ]);
  }
  fields.push(["Savings", formatMoney(row.savings, unit, locale)]);
  if (row.intent) fields.push(["Intent", intentLabel(row.intent, localize)]);
  return { title, source: SOURCE_LABELS[row.source] ?? row.source, fields };
}

/** The intent's name: Home Assistant's translation of bess's state when loaded, else English. */
export function intentLabel(intent, localize) {
  const translated = localize?.(`component.${DOMAIN}.entity.sensor.intent.state.${intent}`);
  return translated || INTENT_LABELS[intent] || intent;
}

/** The hours the table lists: today's and tomorrow's hours (never periods), in order. */
export function tableRows(todayAttributes, tomorrowAttributes) {
  return timeline(todayAttributes, tomorrowAttributes, { resolution: "hour" });
}

/** `color` ("#rgb", "#rrggbb", "rgb()" or "rgba()") with the given opacity, as rgba(). */
export function withAlpha(color, alpha) {
  const text = String(color ?? "").trim();
  let rgb = null;
  const hex = text.match(/^#([0-9a-f]{3,8})$/i);
  if (hex) {
    let digits = hex[1];
    if (digits.length === 3 || digits.length === 4) {
      digits = [...digits].map((digit) => digit + digit).join("");
    }
    if (digits.length === 6 || digits.length === 8) {
      rgb = [0, 2, 4].map((offset) => Number.parseInt(digits.slice(offset, offset + 2), 16));
    }
  }
  const functional = text.match(/^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)/i);
  if (functional) rgb = functional.slice(1, 4).map(Number);
  if (!rgb) return text;
  return `rgba(${rgb.join(", ")}, ${alpha})`;
}

/** A signature of what the chart draws from, to rebuild it only when that changes. */
export function dataSignature(hass, siblings) {
  const stamp = (role) => {
    const stateObj = siblings[role] ? hass?.states?.[siblings[role]] : undefined;
    return stateObj ? `${stateObj.last_updated}|${stateObj.state}` : "";
  };
  return [stamp("daily_view"), stamp("tomorrow")].join("#");
}
