// bess-card: today's and tomorrow's battery plan of one bess entry, with its savings.
// Home Assistant loads this bundle itself (bess registers it as an extra frontend module), so
// the card is in the card picker without a resource step.
import { css, html, LitElement, nothing, unsafeCSS } from "lit";
import uplotStyles from "uplot/dist/uPlot.min.css";

import { buildChart, CHART_HEIGHT, uPlot } from "./chart.js";
import { BessCardEditor } from "./editor.js";
import {
  CARD_TYPE,
  DEFAULT_SECTIONS,
  dataSignature,
  dayLabel,
  describeRow,
  displayTimeZone,
  findDailyViews,
  findSiblings,
  formatMoney,
  formatNumber,
  formatTime,
  isMeasured,
  localDate,
  normalizeConfig,
  nowPosition,
  rowIndexAt,
  savingsSummary,
  tableRows,
  timeline,
  withAlpha,
} from "./model.js";

const MINUTE_MS = 60_000;

/** Resolve a CSS color (a variable's value, a name) to one canvas understands. */
function canvasColor(value, fallback) {
  const context = canvasColor.context ?? document.createElement("canvas").getContext("2d");
  canvasColor.context = context;
  context.fillStyle = fallback;
  if (value) context.fillStyle = value;
  return context.fillStyle;
}

function fire(node, type, detail) {
  node.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
}

export class BessCard extends LitElement {
  static properties = {
    hass: { attribute: false },
    _config: { state: true },
    _selected: { state: true },
    _hover: { state: true },
  };

  static getConfigElement() {
    return document.createElement("bess-card-editor");
  }

  static getStubConfig(hass) {
    const [entity] = findDailyViews(hass);
    return { entity: entity ?? "", sections: [...DEFAULT_SECTIONS] };
  }

  constructor() {
    super();
    this._config = undefined;
    this._selected = null;
    this._hover = null;
    this._siblings = {};
    this._siblingsKey = null;
    this._entities = null;
    this._rows = [];
    this._plot = null;
    this._chartKey = null;
    this._timer = null;
    this._resize = null;
    this._scrolledTable = null;
    this._scrolledTo = null;
  }

  setConfig(config) {
    this._config = normalizeConfig(config);
    this._siblingsKey = null;
    this._selected = null;
  }

  getCardSize() {
    const sections = this._config?.sections ?? DEFAULT_SECTIONS;
    return (
      1 +
      (sections.includes("summary") ? 2 : 0) +
      (sections.includes("chart") ? 6 : 0) +
      (sections.includes("table") ? 6 : 0)
    );
  }

  getGridOptions() {
    return { columns: 12, min_columns: 6 };
  }

  connectedCallback() {
    super.connectedCallback();
    // The "now" marker and the period in progress move with the clock.
    this._timer = setInterval(() => {
      this._plot?.redraw(false, false);
      this.requestUpdate();
    }, MINUTE_MS);
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    clearInterval(this._timer);
    this._timer = null;
    this._destroyChart();
  }

  shouldUpdate(changed) {
    if (!changed.has("hass") || changed.size > 1) return true;
    const before = changed.get("hass");
    const hass = this.hass;
    if (!before || !this._config) return true;
    if (
      before.entities !== hass.entities ||
      before.locale !== hass.locale ||
      before.themes !== hass.themes ||
      before.devices !== hass.devices
    ) {
      return true;
    }
    // Home Assistant sets `hass` at every state change in the house: only ours matter.
    const ids = [this._config.entity, ...Object.values(this._siblings)];
    return ids.some((id) => before.states[id] !== hass.states[id]);
  }

  willUpdate() {
    if (!this.hass || !this._config) return;
    const key = `${this._config.entity}|${Object.keys(this.hass.entities ?? {}).length}`;
    if (key !== this._siblingsKey || this.hass.entities !== this._entities) {
      this._siblings = findSiblings(this.hass, this._config.entity);
      this._siblingsKey = key;
      this._entities = this.hass.entities;
    }
    const daily = this._state("daily_view");
    const tomorrow = this._state("tomorrow");
    this._rows = timeline(daily?.attributes, tomorrow?.attributes);
  }

  _state(role) {
    const id = this._siblings[role];
    return id ? this.hass.states[id] : undefined;
  }

  _header() {
    if (this._config.title) return this._config.title;
    const entry = this.hass.entities?.[this._siblings.daily_view ?? this._config.entity];
    const device = entry?.device_id ? this.hass.devices?.[entry.device_id] : undefined;
    return device?.name_by_user || device?.name || "Battery";
  }

  render() {
    if (!this._config || !this.hass) return nothing;
    const daily = this._state("daily_view");
    if (!daily) {
      return html`<ha-card>
        <div class="warning">
          ${this._config.entity} is not a bess sensor, or bess has not set it up yet.
        </div>
      </ha-card>`;
    }
    const sections = this._config.sections;
    return html`<ha-card .header=${this._header()}>
      <div class="content">
        ${sections.includes("summary") ? this._renderSummary() : nothing}
        ${sections.includes("chart") ? this._renderChart() : nothing}
        ${sections.includes("table") ? this._renderTable() : nothing}
      </div>
    </ha-card>`;
  }

  _formatState(role) {
    const stateObj = this._state(role);
    if (!stateObj) return "—";
    return this.hass.formatEntityState?.(stateObj) ?? stateObj.state;
  }

  _tile(role, label, value, details = []) {
    const entityId = this._siblings[role];
    return html`<button
      class="tile"
      type="button"
      @click=${() => entityId && fire(this, "hass-more-info", { entityId })}
    >
      <span class="label">${label}</span>
      <span class="value">${value}</span>
      ${details.map((detail) => html`<span class="detail">${detail}</span>`)}
    </button>`;
  }

  _renderSummary() {
    const summary = savingsSummary(this.hass, this._siblings);
    const locale = this.hass.locale;
    const money = (value) => formatMoney(value, summary.unit, locale);
    const tomorrow =
      summary.tomorrow.value !== null
        ? money(summary.tomorrow.value)
        : this._state("tomorrow_status")
          ? this._formatState("tomorrow_status")
          : "—";
    return html`<div class="summary">
      ${this._tile("total", "Saved today", money(summary.today.total), [
        `${money(summary.today.measured)} measured`,
        `${money(summary.today.planned)} planned`,
      ])}
      ${this._tile("tomorrow", "Tomorrow, planned", tomorrow)}
      ${summary.month ? this._tile("month", "This month", money(summary.month.value)) : nothing}
      ${this._tile("control", "Control", this._formatState("control"))}
    </div>`;
  }

  /** The row of the selected period (a start time), or null. */
  _selectedIndex() {
    if (this._selected === null) return null;
    const index = rowIndexAt(this._rows, this._selected);
    return index >= 0 ? index : null;
  }

  _detailRow() {
    const nowIndex = nowPosition(this._rows, Date.now())?.index ?? -1;
    const index = this._selectedIndex() ?? this._hover ?? (nowIndex >= 0 ? nowIndex : null);
    const row = index === null ? undefined : this._rows[index];
    if (!row) return html`<div class="details empty">Tap the chart for a period's numbers.</div>`;
    const details = describeRow(row, {
      unit: savingsSummary(this.hass, this._siblings).unit,
      locale: this.hass.locale,
      timeZone: displayTimeZone(this.hass),
      localize: this.hass.localize,
    });
    return html`<div class="details ${isMeasured(row) ? "measured" : "planned"}">
      <div class="details-title">
        <span>${details.title}</span>
        <span class="badge">${index === nowIndex ? "now · " : ""}${details.source}</span>
      </div>
      <dl>
        ${details.fields.map(
          ([label, value]) =>
            html`<div class="field">
              <dt>${label}</dt>
              <dd>${value}</dd>
            </div>`,
        )}
      </dl>
    </div>`;
  }

  _renderChart() {
    if (!this._rows.length) {
      return html`<div class="details empty">No plan yet: bess waits for prices.</div>`;
    }
    const unit = savingsSummary(this.hass, this._siblings).unit;
    return html`<div class="chart-block">
      <div class="legend" aria-hidden="true">
        <span><i class="swatch price"></i>Buy price${unit ? ` (${unit}/kWh, left)` : ""}</span>
        <span><i class="swatch battery"></i>Battery (kW, right)</span>
        <span><i class="swatch battery planned"></i>planned</span>
        <span><i class="swatch soc"></i>SOC</span>
      </div>
      <div id="chart" style="height:${CHART_HEIGHT}px"></div>
      ${this._detailRow()}
    </div>`;
  }

  _renderTable() {
    const rows = tableRows(
      this._state("daily_view")?.attributes,
      this._state("tomorrow")?.attributes,
    );
    if (!rows.length) return nothing;
    const locale = this.hass.locale;
    const timeZone = displayTimeZone(this.hass);
    const now = Date.now();
    const nowIndex = nowPosition(rows, now)?.index ?? -1;
    let day = null;
    const body = [];
    rows.forEach((row, index) => {
      const rowDay = localDate(row.start, timeZone);
      if (rowDay !== day) {
        day = rowDay;
        body.push(
          html`<tr class="day">
            <th colspan="5">${dayLabel(row.start, now, locale, timeZone)}</th>
          </tr>`,
        );
      }
      const classes = [
        row.source,
        isMeasured(row) ? "measured" : "",
        index === nowIndex ? "now" : "",
      ];
      body.push(
        html`<tr class=${classes.join(" ")} data-start=${row.start}>
          <td>${formatTime(row.start, locale, timeZone)}</td>
          <td>${formatNumber(row.buyPrice, locale, 2)}</td>
          <td>${formatNumber(row.batteryKw, locale, 1)}</td>
          <td>${formatNumber(row.socEnd, locale, 0)}</td>
          <td>${formatNumber(row.savings, locale, 2)}</td>
        </tr>`,
      );
    });
    const unit = savingsSummary(this.hass, this._siblings).unit;
    return html`<div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Hour</th>
            <th>Price${unit ? html`<br /><small>${unit}/kWh</small>` : nothing}</th>
            <th>Battery<br /><small>kW</small></th>
            <th>SOC<br /><small>%</small></th>
            <th>Savings${unit ? html`<br /><small>${unit}</small>` : nothing}</th>
          </tr>
        </thead>
        <tbody>
          ${body}
        </tbody>
      </table>
    </div>`;
  }

  updated(changed) {
    super.updated(changed);
    this._scrollTableToNow();
    const container = this.renderRoot.querySelector("#chart");
    if (!container) {
      this._destroyChart();
      return;
    }
    const key = [
      dataSignature(this.hass, this._siblings),
      this.hass.themes?.darkMode,
      this.hass.themes?.theme,
      this.hass.selectedTheme?.theme,
      displayTimeZone(this.hass),
      this.hass.locale?.language,
      this.hass.locale?.number_format,
    ].join("|");
    if (!this._plot || this._plot.root.parentElement !== container || key !== this._chartKey) {
      this._createChart(container);
      this._chartKey = key;
    } else if (changed.has("_selected")) {
      this._plot.redraw(false, false);
    }
  }

  /** Scroll the table to the hour before the one in progress, once per hour and table. */
  _scrollTableToNow() {
    const wrap = this.renderRoot.querySelector(".table-wrap");
    const row = wrap?.querySelector("tr.now");
    if (!row) return;
    const key = row.dataset.start;
    if (wrap === this._scrolledTable && key === this._scrolledTo) return;
    // After layout; a table not laid out yet is tried again at the next update.
    requestAnimationFrame(() => {
      if (!wrap.isConnected || wrap.clientHeight === 0) return;
      const header = wrap.querySelector("thead")?.offsetHeight ?? 0;
      const previous = row.previousElementSibling ?? row;
      const target = Math.max(0, previous.offsetTop - header);
      wrap.scrollTop = target;
      const reached = Math.abs(wrap.scrollTop - target) <= 1;
      if (reached || wrap.scrollHeight - wrap.clientHeight < target) {
        this._scrolledTable = wrap;
        this._scrolledTo = key;
      }
    });
  }

  _colors() {
    const style = getComputedStyle(this);
    const read = (names, fallback) => {
      const value = names.map((name) => style.getPropertyValue(name).trim()).find(Boolean);
      return canvasColor(value, fallback);
    };
    const battery = read(["--bess-battery-color", "--primary-color"], "#03a9f4");
    const text = read(["--secondary-text-color"], "#727272");
    return {
      battery,
      batteryPlanned: withAlpha(battery, 0.45),
      price: read(["--bess-price-color", "--accent-color"], "#ff9800"),
      soc: read(["--bess-soc-color", "--success-color"], "#43a047"),
      now: read(["--bess-now-color", "--error-color"], "#db4437"),
      text,
      grid: read(["--divider-color"], "rgba(0, 0, 0, 0.12)"),
      selection: withAlpha(read(["--primary-text-color"], "#212121"), 0.1),
      font: style.fontFamily || "sans-serif",
    };
  }

  _createChart(container) {
    this._destroyChart();
    const rows = this._rows;
    const { options, data } = buildChart({
      rows,
      width: Math.max(container.clientWidth, 200),
      colors: this._colors(),
      locale: this.hass.locale,
      timeZone: displayTimeZone(this.hass),
      state: () => ({ selected: this._selectedIndex(), nowMs: Date.now() }),
    });
    const indexAt = (u, left) => {
      if (left === null || left === undefined || left < 0) return null;
      const index = rowIndexAt(rows, u.posToVal(left, "x") * 1000);
      return index >= 0 ? index : null;
    };
    options.hooks.setCursor = [
      (u) => {
        const index = indexAt(u, u.cursor.left);
        if (index !== this._hover) this._hover = index;
      },
    ];
    this._plot = new uPlot(options, data, container);
    const over = this._plot.over;
    over.addEventListener("click", (event) => {
      // The selection is the period's start, so that it stays on it when the data moves.
      const index = indexAt(this._plot, event.offsetX);
      const start = index === null ? null : rows[index].start;
      this._selected = start === this._selected ? null : start;
    });
    over.addEventListener("mouseleave", () => {
      this._hover = null;
    });
    this._resize = new ResizeObserver(() => {
      const width = Math.max(container.clientWidth, 200);
      if (this._plot && width !== this._plot.width) {
        this._plot.setSize({ width, height: CHART_HEIGHT });
      }
    });
    this._resize.observe(container);
  }

  _destroyChart() {
    this._resize?.disconnect();
    this._resize = null;
    this._plot?.destroy();
    this._plot = null;
    this._chartKey = null;
  }

  static styles = [
    unsafeCSS(uplotStyles),
    css`
      :host {
        display: block;
      }
      .content {
        padding: 0 16px 16px;
        display: flex;
        flex-direction: column;
        gap: 12px;
      }
      .warning {
        padding: 16px;
        color: var(--error-color, #db4437);
      }
      .content {
        container-type: inline-size;
      }
      .summary {
        display: grid;
        grid-template-columns: repeat(2, minmax(0, 1fr));
        gap: 8px;
      }
      @container (min-width: 520px) {
        .summary {
          grid-template-columns: repeat(auto-fit, minmax(0, 1fr));
        }
      }
      .tile {
        display: flex;
        flex-direction: column;
        align-items: flex-start;
        gap: 2px;
        padding: 8px 10px;
        border: 1px solid var(--divider-color, rgba(0, 0, 0, 0.12));
        border-radius: var(--ha-card-border-radius, 12px);
        background: none;
        color: var(--primary-text-color);
        font: inherit;
        text-align: left;
        cursor: pointer;
        min-width: 0;
      }
      .tile:focus-visible {
        outline: 2px solid var(--primary-color);
      }
      .label,
      .detail {
        color: var(--secondary-text-color);
        font-size: 0.8em;
      }
      .value {
        font-size: 1.25em;
        font-weight: 500;
        overflow-wrap: anywhere;
      }
      .legend {
        display: flex;
        flex-wrap: wrap;
        gap: 4px 12px;
        color: var(--secondary-text-color);
        font-size: 0.8em;
        margin-bottom: 4px;
      }
      .swatch {
        display: inline-block;
        width: 10px;
        height: 10px;
        margin-right: 4px;
        border-radius: 2px;
        vertical-align: -1px;
      }
      .swatch.price {
        height: 3px;
        vertical-align: 2px;
        background: var(--bess-price-color, var(--accent-color, #ff9800));
      }
      .swatch.battery {
        background: var(--bess-battery-color, var(--primary-color, #03a9f4));
      }
      .swatch.battery.planned {
        opacity: 0.45;
      }
      .swatch.soc {
        height: 3px;
        vertical-align: 2px;
        background: var(--bess-soc-color, var(--success-color, #43a047));
      }
      #chart {
        width: 100%;
        overflow: hidden;
      }
      .uplot {
        font-family: inherit;
      }
      .details {
        margin-top: 8px;
        padding: 8px 10px;
        border-radius: 8px;
        background: var(--secondary-background-color, rgba(127, 127, 127, 0.08));
        color: var(--primary-text-color);
        font-size: 0.9em;
      }
      .details.empty {
        color: var(--secondary-text-color);
      }
      .details-title {
        display: flex;
        justify-content: space-between;
        gap: 8px;
        font-weight: 500;
        margin-bottom: 4px;
      }
      .badge {
        color: var(--secondary-text-color);
        font-weight: normal;
      }
      dl {
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
        gap: 2px 16px;
        margin: 0;
      }
      .field {
        display: flex;
        justify-content: space-between;
        gap: 8px;
      }
      dt {
        color: var(--secondary-text-color);
        white-space: nowrap;
      }
      dd {
        margin: 0;
        text-align: right;
        font-variant-numeric: tabular-nums;
      }
      .table-wrap {
        position: relative;
        max-height: 360px;
        overflow: auto;
      }
      table {
        width: 100%;
        border-collapse: collapse;
        font-size: 0.85em;
        font-variant-numeric: tabular-nums;
      }
      thead th {
        position: sticky;
        top: 0;
        z-index: 1;
        background: var(--card-background-color, var(--ha-card-background, #fff));
        color: var(--secondary-text-color);
        font-weight: 500;
        text-align: right;
        padding: 4px 6px;
        border-bottom: 1px solid var(--divider-color);
      }
      thead th:first-child,
      td:first-child {
        text-align: left;
      }
      td {
        text-align: right;
        padding: 3px 6px;
        border-bottom: 1px solid var(--divider-color);
        color: var(--secondary-text-color);
      }
      tr.measured td {
        color: var(--primary-text-color);
      }
      tr.missing td {
        opacity: 0.6;
      }
      tr.now td {
        background: var(--secondary-background-color, rgba(127, 127, 127, 0.1));
        color: var(--primary-text-color);
        font-weight: 500;
      }
      tr.day th {
        text-align: left;
        padding: 8px 6px 2px;
        color: var(--primary-text-color);
        font-weight: 500;
      }
      small {
        font-weight: normal;
      }
    `,
  ];
}

function register() {
  if (!customElements.get(CARD_TYPE)) customElements.define(CARD_TYPE, BessCard);
  if (!customElements.get("bess-card-editor")) {
    customElements.define("bess-card-editor", BessCardEditor);
  }
}

// Home Assistant's app.js replaces window.customElements with its own registry. This bundle
// may run before it (both load at once): define the card in Home Assistant's registry, the one
// Lovelace reads, once it exists.
if (customElements.get("home-assistant")) register();
else customElements.whenDefined("home-assistant").then(register);

window.customCards = window.customCards || [];
if (!window.customCards.some((card) => card.type === CARD_TYPE)) {
  window.customCards.push({
    type: CARD_TYPE,
    name: "BESS battery",
    description:
      "Today's and tomorrow's battery plan of bess: prices, battery power and SOC, with the savings.",
    preview: true,
    documentationURL: "https://github.com/bess-ha/bess#the-bess-card",
  });
}
