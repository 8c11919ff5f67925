/*
 * HomeSec timeline card: the visual editor (title, cameras, minimum risk, clips per page), with
 * Home Assistant's ha-form when the frontend has it, else plain inputs. Loaded by the card's
 * getConfigElement.
 */

import {
  CAMERA_MODELS,
  DEFAULT_LIMIT,
  h,
  homesecCameras,
  MAX_LIMIT,
  RISKS,
  STRINGS,
} from "./homesec-timeline-common.js?v=0.1.0";

const EDITOR_SCHEMA = [
  { name: "title", selector: { text: {} } },
  {
    name: "cameras",
    // HomeSec's camera devices (not the hub's): their model is "<source kind> camera". By
    // manufacturer and model, which the device picker filters without a lookup.
    selector: {
      device: {
        multiple: true,
        filter: CAMERA_MODELS.map((model) => ({ manufacturer: "HomeSec", model })),
      },
    },
  },
  {
    name: "min_risk",
    selector: {
      select: {
        mode: "dropdown",
        options: RISKS.map((risk) => ({ value: risk, label: STRINGS.risk[risk] })),
      },
    },
  },
  { name: "limit", selector: { number: { min: 1, max: MAX_LIMIT, mode: "box" } } },
];

class HomesecTimelineCardEditor extends HTMLElement {
  constructor() {
    super();
    this._config = {};
    this._hass = null;
  }

  setConfig(config) {
    this._config = { ...config };
    this._render();
  }

  set hass(hass) {
    this._hass = hass;
    if (this._form) this._form.hass = hass;
    else this._render();
  }

  connectedCallback() {
    this._render();
    if (!customElements.get("ha-form")) {
      customElements.whenDefined("ha-form").then(() => {
        this._plain = null;
        this._render();
      });
    }
  }

  _changed(config) {
    const clean = { ...config };
    for (const key of Object.keys(clean)) {
      const value = clean[key];
      if (value === "" || value === null || value === undefined
        || (Array.isArray(value) && !value.length)) delete clean[key];
    }
    if (clean.limit !== undefined) clean.limit = Number(clean.limit);
    this._config = { type: "custom:homesec-timeline-card", ...clean };
    this.dispatchEvent(
      new CustomEvent("config-changed", {
        detail: { config: this._config },
        bubbles: true,
        composed: true,
      }),
    );
  }

  _render() {
    if (!this.isConnected) return;
    if (customElements.get("ha-form")) {
      if (!this._form) {
        this._form = document.createElement("ha-form");
        this._form.schema = EDITOR_SCHEMA;
        this._form.computeLabel = (field) => STRINGS.editor[field.name] || field.name;
        this._form.addEventListener("value-changed", (ev) => this._changed(ev.detail.value));
        this.replaceChildren(this._form);
      }
      this._form.hass = this._hass;
      this._form.data = this._config;
      return;
    }
    this._renderPlain();
  }

  /** Without ha-form (not loaded yet): plain inputs for the same options. */
  _renderPlain() {
    const field = (name, input) =>
      h("label", { style: "display:block;margin:8px 0" }, [
        h("div", {}, STRINGS.editor[name]),
        input,
      ]);
    const update = (name, value) => this._changed({ ...this._config, [name]: value });
    const title = h("input", {
      name: "title",
      ".value": this._config.title || "",
      "@change": (ev) => update("title", ev.target.value),
    });
    const cameras = h(
      "select",
      {
        name: "cameras",
        multiple: true,
        "@change": (ev) =>
          update("cameras", [...ev.target.selectedOptions].map((option) => option.value)),
      },
      homesecCameras(this._hass).map((camera) =>
        h(
          "option",
          { value: camera.id, selected: (this._config.cameras || []).includes(camera.id) },
          camera.name,
        ),
      ),
    );
    const risk = h(
      "select",
      { name: "min_risk", "@change": (ev) => update("min_risk", ev.target.value) },
      [h("option", { value: "" }, STRINGS.anyRisk)].concat(
        RISKS.map((value) =>
          h("option", { value, selected: this._config.min_risk === value }, STRINGS.risk[value]),
        ),
      ),
    );
    const limit = h("input", {
      name: "limit",
      type: "number",
      min: 1,
      max: MAX_LIMIT,
      ".value": String(this._config.limit || DEFAULT_LIMIT),
      "@change": (ev) => update("limit", ev.target.value),
    });
    this._plain = true;
    this.replaceChildren(
      field("title", title),
      field("cameras", cameras),
      field("min_risk", risk),
      field("limit", limit),
    );
  }
}

if (!customElements.get("homesec-timeline-card-editor")) {
  customElements.define("homesec-timeline-card-editor", HomesecTimelineCardEditor);
}
