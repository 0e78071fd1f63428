// The card's visual editor: Home Assistant's own ha-form, with an entity picker limited to
// bess's daily-view sensors and a checkbox per section.
import { html, LitElement, nothing } from "lit";

import { DEFAULT_SECTIONS, DOMAIN, SECTIONS } from "./model.js";

const SECTION_LABELS = {
  summary: "Savings and control status",
  chart: "Chart: price, battery power and SOC",
  table: "Table of the hours",
};

// The daily view is bess's only sensor with the date device class.
const SCHEMA = [
  {
    name: "entity",
    required: true,
    selector: {
      entity: { filter: { integration: DOMAIN, domain: "sensor", device_class: "date" } },
    },
  },
  { name: "title", selector: { text: {} } },
  {
    name: "sections",
    selector: {
      select: {
        multiple: true,
        mode: "list",
        options: SECTIONS.map((value) => ({ value, label: SECTION_LABELS[value] })),
      },
    },
  },
];

const LABELS = {
  entity: "Battery (its Daily view sensor)",
  title: "Title (the battery's name if empty)",
  sections: "Sections",
};

/**
 * Make sure ha-form is defined: Home Assistant loads it with its own card editors, which may
 * not have been opened yet. The button card's editor is built on it.
 */
async function loadHaForm() {
  if (customElements.get("ha-form")) return;
  try {
    const helpers = await window.loadCardHelpers?.();
    helpers?.createCardElement({ type: "button" });
    await customElements.get("hui-button-card")?.getConfigElement?.();
  } catch {
    // An older or newer frontend without these helpers: ha-form may still come on its own.
  }
}

export class BessCardEditor extends LitElement {
  static properties = {
    hass: { attribute: false },
    _config: { state: true },
  };

  constructor() {
    super();
    this._config = undefined;
  }

  connectedCallback() {
    super.connectedCallback();
    loadHaForm().then(() => this.requestUpdate());
  }

  setConfig(config) {
    this._config = config;
  }

  render() {
    if (!this.hass || !this._config) return nothing;
    const data = {
      entity: this._config.entity ?? "",
      title: this._config.title ?? "",
      sections: this._config.sections ?? DEFAULT_SECTIONS,
    };
    return html`<ha-form
      .hass=${this.hass}
      .data=${data}
      .schema=${SCHEMA}
      .computeLabel=${(schema) => LABELS[schema.name] ?? schema.name}
      @value-changed=${this._changed}
    ></ha-form>`;
  }

  _changed(event) {
    event.stopPropagation();
    const value = event.detail.value;
    const config = { ...this._config, ...value };
    config.sections = SECTIONS.filter((section) => (value.sections ?? []).includes(section));
    if (!config.title) delete config.title;
    this._config = config;
    this.dispatchEvent(
      new CustomEvent("config-changed", { detail: { config }, bubbles: true, composed: true }),
    );
  }
}
