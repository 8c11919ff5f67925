/*
 * HomeSec timeline card: a vertical timeline of HomeSec's clips (newest first) with their
 * snapshot, risk colour, time, camera, activity and summary; filters for camera and minimum
 * risk and a search box (all through the homesec_nvr.get_clips action); a click plays the clip;
 * "Mark reviewed" calls homesec_nvr.review. The clips of one incident that span several cameras
 * (a camera group's clips that followed each other: the same incident_id) are one row: the
 * cameras in time order, the clip count, the highest risk and the riskiest clip's summary; it
 * expands to its clips, each as a row of its own: expanding asks get_clips for all the
 * incident's clips (its incident_id, no camera filter), so it is complete whatever page or
 * camera the card shows. Plain web component, no build step: the HomeSec integration serves
 * this file and adds it to every dashboard.
 *
 *   type: custom:homesec-timeline-card
 *   title: Front door          # optional
 *   cameras: [<device id>, …]  # optional: HomeSec camera devices (default: all)
 *   min_risk: medium           # optional: low | medium | high | critical
 *   limit: 20                  # optional: clips per page (1-500, default 20)
 *
 * Every text from Home Assistant is set with textContent (never innerHTML). Shared parts are in
 * homesec-timeline-common.js, the visual editor in homesec-timeline-card-editor.js (loaded when
 * a dashboard is edited); the imports carry the version so browsers fetch them after an update.
 */

import {
  CARD_VERSION,
  DEFAULT_LIMIT,
  DOMAIN,
  MAX_LIMIT,
  RISKS,
  RISK_COLOURS,
  STRINGS,
  h,
  homesecCameras,
  label,
  normaliseConfig,
} from "./homesec-timeline-common.js?v=0.1.0";

const SEARCH_DELAY_MS = 350;
// A new clip refreshes the first page after this quiet time (a burst of clips asks once).
const REFRESH_DELAY_MS = 1500;
const EVENT_CLIP_PROCESSED = "homesec_nvr_clip_processed";
// An expanded incident's clips are asked for in pages of the largest size, at most this many.
const INCIDENT_PAGES = 4;

const STYLE = `
  :host { display: block; }
  ha-card { overflow: hidden; color: var(--primary-text-color); }
  .header { padding: 16px 16px 0; font-size: var(--ha-card-header-font-size, 24px);
    line-height: 32px; color: var(--ha-card-header-color, var(--primary-text-color)); }
  .filters { display: flex; flex-wrap: wrap; gap: 8px; padding: 12px 16px;
    border-bottom: 1px solid var(--divider-color); }
  .filters select, .filters input { font: inherit; font-size: 14px; min-height: 36px;
    padding: 4px 8px; border-radius: 8px; box-sizing: border-box;
    border: 1px solid var(--divider-color); color: var(--primary-text-color);
    background: var(--card-background-color, var(--ha-card-background, #fff)); }
  .filters input { flex: 1 1 160px; min-width: 0; }
  .filters select { flex: 0 1 auto; max-width: 100%; }
  .status { padding: 24px 16px; text-align: center; color: var(--secondary-text-color); }
  .status.error { color: var(--error-color, #db4437); }
  .status .hint { display: block; margin-top: 4px; font-size: 12px; }
  ol { list-style: none; margin: 0; padding: 8px 16px 8px 16px; }
  li.clip { position: relative; display: flex; gap: 12px; padding: 8px 0 8px 20px; }
  li.clip::before { content: ""; position: absolute; left: 5px; top: 0; bottom: 0; width: 2px;
    background: var(--divider-color); }
  li.clip:first-child::before { top: 18px; }
  li.clip:last-child::before { bottom: calc(100% - 18px); }
  .dot { position: absolute; left: 0; top: 12px; width: 12px; height: 12px; border-radius: 50%;
    background: var(--risk); box-shadow: 0 0 0 2px var(--card-background-color, #fff); }
  .thumb { flex: 0 0 auto; align-self: flex-start; width: 120px; aspect-ratio: 16 / 9; padding: 0; border: 0;
    border-radius: 8px; overflow: hidden; cursor: pointer; position: relative;
    background: var(--secondary-background-color, #e5e5e5); }
  .thumb img { width: 100%; height: 100%; object-fit: cover; display: block; }
  .thumb .playicon { position: absolute; inset: 0; display: flex; align-items: center;
    justify-content: center; color: #fff; font-size: 24px; text-shadow: 0 0 4px #000; }
  .body { flex: 1 1 auto; min-width: 0; }
  .meta { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 8px; font-size: 12px;
    color: var(--secondary-text-color); }
  .risk { font-weight: 500; padding: 0 6px; border-radius: 8px; color: var(--risk);
    border: 1px solid var(--risk); }
  .activity { font-weight: 500; color: var(--primary-text-color); font-size: 14px;
    margin-top: 2px; }
  .summary { font-size: 14px; margin-top: 2px; color: var(--primary-text-color);
    overflow-wrap: anywhere; display: -webkit-box; -webkit-line-clamp: 3;
    -webkit-box-orient: vertical; overflow: hidden; }
  .actions { margin-top: 4px; display: flex; align-items: center; gap: 8px; }
  button.action { font: inherit; font-size: 13px; cursor: pointer; padding: 4px 10px;
    border-radius: 16px; border: 1px solid var(--primary-color, #03a9f4);
    color: var(--primary-color, #03a9f4); background: transparent; }
  button.action[disabled] { opacity: 0.6; cursor: default; }
  .review { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 8px; }
  .review-error { font-size: 12px; color: var(--error-color, #db4437); }
  .status .retry { margin-top: 8px; }
  .badge { font-size: 12px; color: var(--success-color, #43a047); font-weight: 500; }
  .badge.false_alarm { color: var(--secondary-text-color); }
  li.incident > .body > .meta .camera { font-weight: 500; color: var(--primary-text-color); }
  .count-badge { padding: 0 6px; border-radius: 8px; border: 1px solid var(--divider-color); }
  ol.incident-clips { padding: 4px 0 0; }
  ol.incident-clips .thumb { width: 96px; }
  ol.incident-clips[hidden] { display: none; }
  .incident-status { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 8px;
    margin-top: 4px; font-size: 12px; color: var(--secondary-text-color); }
  .more { display: flex; justify-content: space-between; align-items: center;
    padding: 0 16px 16px; color: var(--secondary-text-color); font-size: 12px; }
  dialog.player { border: 0; margin: 0; padding: 16px; box-sizing: border-box;
    width: 100vw; height: 100vh; max-width: 100vw; max-height: 100vh;
    background: rgba(0, 0, 0, 0.85); }
  dialog.player[open] { display: flex; align-items: center; justify-content: center; }
  .player .frame { width: min(960px, 100%); display: flex; flex-direction: column; gap: 8px; }
  .player video { width: 100%; max-height: 80vh; background: #000; border-radius: 8px; }
  .player .bar { display: flex; justify-content: space-between; align-items: center;
    color: #fff; gap: 8px; font-size: 14px; }
  .player button { font: inherit; cursor: pointer; padding: 4px 12px; border-radius: 16px;
    border: 1px solid #fff; color: #fff; background: transparent; }
  @media (max-width: 450px) {
    .thumb { width: 96px; }
    ol { padding: 8px 12px; }
    ol.incident-clips .thumb { width: 72px; }
    .filters { padding: 12px; }
    .filters select { flex: 1 1 40%; }
  }
`;

/** What a failed websocket call says (Home Assistant's translated message when it has one). */
function errorText(err) {
  return (err && (err.message || err.code)) || String(err);
}

/** The incident a clip is part of (its own id for a clip before incidents existed). */
function incidentOf(item) {
  return item.incident_id || item.clip_id;
}

function cameraOf(item) {
  return item.camera_id || item.camera || "";
}

function riskRank(item) {
  return RISKS.indexOf(item.risk_level); // -1: no risk
}

/** The incident's riskiest clip (of equal risks, the latest: it has seen the most). */
function riskiest(clips) {
  return clips.reduce((best, item) => (riskRank(item) >= riskRank(best) ? item : best));
}

/** The cameras of clips (oldest first) in the order they joined the incident: each clip names
 * its incident's cameras in that order (camera_ids, cameras: those so far in an event, all of
 * them from get_clips), also those whose clips are not loaded; its own camera where it is
 * listed, or after them. */
function incidentCameras(clips) {
  const names = new Map();
  for (const item of clips) {
    const own = cameraOf(item);
    const ids = Array.isArray(item.camera_ids) ? item.camera_ids : [];
    const known = Array.isArray(item.cameras) ? item.cameras : [];
    ids.forEach((id, index) => {
      if (id && !names.has(id)) names.set(id, (id === own && item.camera) || known[index] || id);
    });
    if (!names.has(own)) names.set(own, item.camera || own);
  }
  return names;
}

function cameraNames(clips) {
  return [...incidentCameras(clips).values()];
}

function oldestFirst(clips) {
  return clips
    .map((clip, index) => ({ clip, index }))
    .sort((a, b) => startMs(a.clip) - startMs(b.clip) || b.index - a.index)
    .map((entry) => entry.clip);
}

function startMs(item) {
  const ms = Date.parse(item.start_time);
  return Number.isNaN(ms) ? 0 : ms;
}

/** The rows of a list of clips (newest first): a clip of its own, or {id, clips} for the clips
 * of one incident recorded by more than one camera (clips oldest first), at the place of its
 * newest clip. An incident whose clips were fetched (`fetched`: id -> {clips}) has those. */
function timelineRows(items, fetched) {
  const groups = new Map();
  for (const item of items) {
    const id = incidentOf(item);
    if (!groups.has(id)) groups.set(id, []);
    groups.get(id).push(item);
  }
  const rows = [];
  const placed = new Set();
  for (const item of items) {
    const id = incidentOf(item);
    const answer = fetched && fetched.get(id);
    const clips = answer && answer.clips ? answer.clips : groups.get(id);
    if (incidentCameras(clips).size < 2) {
      rows.push({ item });
    } else if (!placed.has(id)) {
      placed.add(id);
      rows.push({ id, clips: answer && answer.clips ? clips : oldestFirst(clips) });
    }
  }
  return rows;
}

class HomesecTimelineCard extends HTMLElement {
  static async getConfigElement() {
    // The editor is loaded only when a dashboard is edited.
    await import(`./homesec-timeline-card-editor.js?v=${CARD_VERSION}`);
    return document.createElement("homesec-timeline-card-editor");
  }

  static getStubConfig() {
    return { title: STRINGS.title, limit: DEFAULT_LIMIT };
  }

  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._hass = null;
    this._config = null;
    this._items = [];
    this._total = 0;
    this._nextOffset = null;
    this._state = "idle"; // idle | loading | ready | error
    this._error = "";
    this._request = 0;
    this._filters = { camera: "", minRisk: "", query: "" };
    this._searchTimer = null;
    this._built = false;
    this._expanded = new Set(); // incident ids shown with their clips
    // Incidents asked for on expanding: id -> {clips (oldest first, or null), error, loading,
    // request}.
    this._incidents = new Map();
    this._incidentRequest = 0;
  }

  setConfig(config) {
    this._config = normaliseConfig(config);
    this._filters = { camera: "", minRisk: this._config.min_risk, query: "" };
    this._built = false;
    this._state = "idle"; // a new configuration loads again (connectedCallback if detached)
    this._items = [];
    this._incidents = new Map();
    this._cameraKey = null;
    if (this._hass) this._build();
    if (this._hass && this.isConnected) this._load(false);
  }

  set hass(hass) {
    const first = !this._hass;
    this._hass = hass;
    if (!this._config) return;
    if (first || !this._built) {
      this._build();
      this._load(false);
    } else if (hass.devices !== this._devices) {
      this._renderCameraOptions();
    }
    this._subscribe();
  }

  get hass() {
    return this._hass;
  }

  connectedCallback() {
    if (this._hass && this._config && this._state === "idle") this._load(false);
    this._subscribe();
  }

  disconnectedCallback() {
    clearTimeout(this._searchTimer);
    clearTimeout(this._refreshTimer);
    const unsubscribe = this._unsubscribe;
    this._unsubscribe = null;
    if (unsubscribe) unsubscribe.then((off) => off && off()).catch(() => {});
  }

  /** New clips appear by themselves: each processed clip refreshes the first page (only for
   * administrators: others may not subscribe to events, and refresh by reloading). */
  _subscribe() {
    if (this._unsubscribe || !this.isConnected || !this._hass || !this._hass.connection) return;
    if (this._hass.user && !this._hass.user.is_admin) return;
    this._unsubscribe = this._hass.connection
      .subscribeEvents(() => this._refreshSoon(), EVENT_CLIP_PROCESSED)
      .catch(() => null);
  }

  _refreshSoon() {
    clearTimeout(this._refreshTimer);
    this._refreshTimer = setTimeout(() => {
      // Not while a person pages further down or watches a clip: the list would jump.
      if (this._player || this._items.length > this._config.limit) return;
      this._load(false, true);
    }, REFRESH_DELAY_MS);
  }

  getCardSize() {
    return 3 + Math.min(this._items.length, 6) * 2;
  }

  getGridOptions() {
    return { columns: 12, min_columns: 6 };
  }

  // --- structure ---------------------------------------------------------------------

  _build() {
    const root = this.shadowRoot;
    root.replaceChildren();
    this._cameraSelect = h("select", {
      class: "camera",
      "aria-label": STRINGS.cameraFilter,
      "@change": (ev) => {
        this._filters.camera = ev.target.value;
        this._load(false);
      },
    });
    this._riskSelect = h(
      "select",
      {
        class: "min-risk",
        "aria-label": STRINGS.riskFilter,
        "@change": (ev) => {
          this._filters.minRisk = ev.target.value;
          this._load(false);
        },
      },
      [h("option", { value: "" }, STRINGS.anyRisk)].concat(
        RISKS.map((risk) => h("option", { value: risk }, `≥ ${STRINGS.risk[risk]}`)),
      ),
    );
    this._riskSelect.value = this._filters.minRisk;
    this._search = h("input", {
      class: "search",
      type: "search",
      placeholder: STRINGS.searchPlaceholder,
      "aria-label": STRINGS.searchPlaceholder,
      enterkeyhint: "search",
      "@input": () => this._searchSoon(SEARCH_DELAY_MS),
      "@keydown": (ev) => {
        if (ev.key === "Enter") this._searchSoon(0);
      },
    });
    this._list = h("ol", { class: "timeline" });
    this._status = h("div", { class: "status", role: "status" });
    this._more = h("div", { class: "more" });
    const card = h("ha-card", {}, [
      this._config.title ? h("div", { class: "header" }, this._config.title) : null,
      h("div", { class: "filters" }, [this._cameraSelect, this._riskSelect, this._search]),
      this._status,
      this._list,
      this._more,
    ]);
    root.append(h("style", {}, STYLE), card);
    this._renderCameraOptions();
    this._built = true;
  }

  _cameraChoices() {
    const all = homesecCameras(this._hass);
    if (!this._config.cameras.length) return all;
    const byId = new Map(all.map((camera) => [camera.id, camera]));
    return this._config.cameras.map((id) => byId.get(id) || { id, name: id });
  }

  _renderCameraOptions() {
    if (!this._cameraSelect) return;
    this._devices = this._hass.devices;
    const choices = this._cameraChoices();
    const key = JSON.stringify(choices);
    if (key === this._cameraKey) return;
    this._cameraKey = key;
    this._cameraSelect.replaceChildren(
      h("option", { value: "" }, STRINGS.allCameras),
      ...choices.map((camera) => h("option", { value: camera.id }, camera.name)),
    );
    this._cameraSelect.value = this._filters.camera;
    this._cameraSelect.hidden = choices.length < 2 && !this._filters.camera;
  }

  _searchSoon(delay) {
    clearTimeout(this._searchTimer);
    this._searchTimer = setTimeout(() => {
      const query = this._search.value.trim();
      if (query === this._filters.query) return;
      this._filters.query = query;
      this._load(false);
    }, delay);
  }

  // --- data --------------------------------------------------------------------------

  _serviceData(offset) {
    const data = { limit: this._config.limit, offset };
    const devices = this._filters.camera ? [this._filters.camera] : this._config.cameras;
    if (devices.length) data.device_id = devices;
    if (this._filters.minRisk) data.min_risk = this._filters.minRisk;
    if (this._filters.query) data.query = this._filters.query;
    return data;
  }

  async _load(more, quiet = false) {
    if (!this._hass || !this._config) return;
    if (!this._built) this._build();
    const request = ++this._request;
    const offset = more ? this._nextOffset || 0 : 0;
    if (!more && !quiet) performance.mark("homesec-timeline-request");
    if (!quiet) {
      this._state = "loading";
      this._renderStatus();
    }
    let page;
    try {
      const answer = await this._hass.callWS({
        type: "call_service",
        domain: DOMAIN,
        service: "get_clips",
        service_data: this._serviceData(offset),
        return_response: true,
      });
      page = answer && answer.response;
    } catch (err) {
      if (request !== this._request || quiet) return; // a failed refresh keeps the list
      this._state = "error";
      this._error = errorText(err);
      this._renderStatus();
      return;
    }
    if (request !== this._request) return; // a newer filter or search won
    const clips = (page && Array.isArray(page.clips) && page.clips) || [];
    this._items = more ? this._items.concat(clips) : clips;
    this._total = Number((page && page.total) || this._items.length);
    this._nextOffset = page && page.next_offset !== undefined ? page.next_offset : null;
    this._state = "ready";
    // A new first page (a filter, a search, a clip recorded meanwhile): an incident fetched
    // before is asked again when it is expanded, and only then (its clips may have changed).
    if (!more) {
      for (const id of [...this._incidents.keys()]) {
        if (!this._expanded.has(id)) this._incidents.delete(id);
      }
    }
    this._renderItems(more ? clips : null);
    this._renderStatus();
    if (!more) {
      const shown = new Set(this._items.map(incidentOf));
      for (const id of this._expanded) {
        if (shown.has(id)) this._loadIncident(id, true);
      }
    }
    if (!more && !quiet) {
      requestAnimationFrame(() =>
        requestAnimationFrame(() => performance.mark("homesec-timeline-painted")),
      );
    }
  }

  /** Every clip of an incident (of every camera, whatever the card's filters and pages), for
   * its expanded row; the row shows the answer, or the card's error with the clips it had.
   * `quiet` (a refresh): a failure keeps an earlier answer without an error. */
  async _loadIncident(id, quiet = false) {
    let entry = this._incidents.get(id);
    if (!entry) {
      entry = { clips: null, error: "", loading: false, request: 0 };
      this._incidents.set(id, entry);
    }
    const request = ++this._incidentRequest;
    entry.request = request;
    entry.loading = true;
    if (!quiet) {
      entry.error = "";
      this._renderIncident(id);
    }
    const current = () => this._incidents.get(id) === entry && entry.request === request;
    const found = [];
    try {
      let offset = 0;
      for (let page = 0; page < INCIDENT_PAGES && offset !== null; page += 1) {
        const answer = await this._hass.callWS({
          type: "call_service",
          domain: DOMAIN,
          service: "get_clips",
          service_data: { incident_id: id, limit: MAX_LIMIT, offset },
          return_response: true,
        });
        const response = (answer && answer.response) || {};
        found.push(...(Array.isArray(response.clips) ? response.clips : []));
        const next = response.next_offset;
        offset = next === undefined || next === null || next <= offset ? null : next;
      }
    } catch (err) {
      if (!current()) return; // collapsed and expanded again, or a new configuration
      entry.loading = false;
      if (!(quiet && entry.clips)) entry.error = errorText(err);
      this._renderIncident(id);
      return;
    }
    if (!current()) return;
    // The loaded clips among them are the same objects (a review shows on both).
    const loaded = new Map(this._items.map((item) => [item.clip_id, item]));
    const clips = found.map((clip) =>
      loaded.has(clip.clip_id) ? Object.assign(loaded.get(clip.clip_id), clip) : clip,
    );
    entry.loading = false;
    entry.error = "";
    entry.clips = clips.length ? oldestFirst(clips) : null;
    this._renderIncident(id);
  }

  /** The incident's row again, in place (its count, cameras and clips may have changed). */
  _renderIncident(id) {
    const old = [...this._list.children].find((li) => li.dataset.incidentId === id);
    const row = timelineRows(this._items, this._incidents).find((r) => r.id === id);
    if (!old || !row) return;
    const focused = this.shadowRoot.activeElement;
    const element = this._incidentElement(row);
    old.replaceWith(element);
    if (focused && old.contains(focused) && focused.classList.contains("expand")) {
      element.querySelector(".expand").focus();
    }
  }

  async _markReviewed(item, button, badgeSlot) {
    button.disabled = true;
    button.textContent = STRINGS.reviewing;
    try {
      await this._hass.callService(DOMAIN, "review", {
        clip_id: item.clip_id,
        review: "reviewed",
      });
    } catch (err) {
      button.disabled = false;
      button.textContent = STRINGS.markReviewed;
      badgeSlot.replaceChildren(
        button,
        h("span", { class: "review-error" }, `${STRINGS.reviewFailed}: ${errorText(err)}`),
      );
      return;
    }
    item.review = "reviewed";
    item.reviewed_at = new Date().toISOString();
    // A clip of an expanded incident: the incident's row may now be all reviewed.
    if (badgeSlot.closest("li.incident")) this._renderItems(null);
    else badgeSlot.replaceChildren(this._reviewPart(item, badgeSlot));
  }

  async _markIncidentReviewed(clips, button, slot) {
    const open = clips.filter((item) => !this._isReviewed(item));
    button.disabled = true;
    button.textContent = STRINGS.reviewing;
    try {
      await this._hass.callService(DOMAIN, "review", {
        clip_id: open.map((item) => item.clip_id),
        review: "reviewed",
      });
    } catch (err) {
      button.disabled = false;
      button.textContent = STRINGS.markReviewed;
      slot.replaceChildren(
        button,
        h("span", { class: "review-error" }, `${STRINGS.reviewIncidentFailed}: ${errorText(err)}`),
      );
      return;
    }
    const now = new Date().toISOString();
    for (const item of open) {
      item.review = "reviewed";
      item.reviewed_at = now;
    }
    // The incident's clips shown expanded say so too.
    this._renderItems(null);
  }

  // --- rendering ---------------------------------------------------------------------

  _renderStatus() {
    const status = this._status;
    status.className = "status";
    status.hidden = false;
    if (this._state === "loading" && !this._items.length) {
      status.replaceChildren(STRINGS.loading);
    } else if (this._state === "error") {
      status.className = "status error";
      status.replaceChildren(
        h("strong", {}, STRINGS.error),
        h("span", { class: "hint" }, this._error),
        h(
          "button",
          { class: "action retry", type: "button", "@click": () => this._load(false) },
          STRINGS.retry,
        ),
      );
    } else if (this._state === "ready" && !this._items.length) {
      status.className = "status empty";
      status.replaceChildren(
        STRINGS.empty,
        h("span", { class: "hint" }, STRINGS.emptyHint),
      );
    } else {
      status.hidden = true;
      status.replaceChildren();
    }
    this._list.hidden = this._state === "error";
    this._more.replaceChildren();
    if (this._state === "error" || !this._items.length) return;
    this._more.append(h("span", { class: "count" }, STRINGS.shown(this._items.length, this._total)));
    if (this._nextOffset !== null && this._nextOffset !== undefined) {
      this._more.append(
        h(
          "button",
          {
            class: "action load-more",
            disabled: this._state === "loading",
            "@click": () => this._load(true),
          },
          STRINGS.loadMore,
        ),
      );
    }
  }

  _renderItems(appended) {
    const fragment = document.createDocumentFragment();
    // A page that brings more clips of an incident already shown renders the list again (the
    // incident's row takes them); otherwise the page is appended.
    const shown = appended && new Set(this._items.slice(0, -appended.length).map(incidentOf));
    const whole = !appended || appended.some((item) => shown.has(incidentOf(item)));
    for (const row of timelineRows(whole ? this._items : appended, this._incidents)) {
      fragment.append(row.clips ? this._incidentElement(row) : this._itemElement(row.item));
    }
    if (whole) this._list.replaceChildren(fragment);
    else this._list.append(fragment);
  }

  _time(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso || "");
    const locale = this._hass.locale || {};
    const options = { dateStyle: "medium", timeStyle: "short" };
    if (locale.time_zone === "server" && this._hass.config && this._hass.config.time_zone) {
      options.timeZone = this._hass.config.time_zone;
    }
    try {
      return new Intl.DateTimeFormat(locale.language || undefined, options).format(date);
    } catch (_err) {
      return date.toLocaleString();
    }
  }

  _itemElement(item) {
    const risk = RISKS.includes(item.risk_level) ? item.risk_level : "none";
    const activity = item.activity_type
      ? label(item.activity_type)
      : (item.detected_classes || []).length
        ? item.detected_classes.map(label).join(", ")
        : STRINGS.motion;
    const skipped = item.analysis_skipped_reason
      ? STRINGS.skipped[item.analysis_skipped_reason] || STRINGS.noAnalysis
      : "";
    const summary = item.summary || item.error || skipped;
    const thumb = h(
      "button",
      {
        class: "thumb",
        type: "button",
        title: STRINGS.play,
        "aria-label": `${STRINGS.play}: ${item.camera || ""} ${this._time(item.start_time)}`,
        "@click": () => this._play(item),
      },
      [
        item.snapshot_url
          ? h("img", { src: item.snapshot_url, alt: "", loading: "lazy", decoding: "async" })
          : null,
        h("span", { class: "playicon", "aria-hidden": "true" }, "▶"),
      ],
    );
    const reviewSlot = h("span", { class: "review" });
    reviewSlot.append(this._reviewPart(item, reviewSlot));
    const li = h("li", { class: `clip risk-${risk}`, "data-clip-id": item.clip_id }, [
      h("span", { class: "dot", "aria-hidden": "true" }),
      thumb,
      h("div", { class: "body" }, [
        h("div", { class: "meta" }, [
          h("time", { class: "time", datetime: item.start_time }, this._time(item.start_time)),
          h("span", { class: "camera" }, item.camera || ""),
          risk === "none" ? null : h("span", { class: "risk" }, STRINGS.risk[risk]),
        ]),
        h("div", { class: "activity" }, activity),
        summary ? h("div", { class: "summary" }, summary) : null,
        h("div", { class: "actions" }, [reviewSlot]),
      ]),
    ]);
    li.style.setProperty("--risk", RISK_COLOURS[risk]);
    return li;
  }

  /** One row for an incident of several cameras; expands to its clips (oldest first). */
  _incidentElement(row) {
    const clips = row.clips;
    const main = riskiest(clips);
    const risk = RISKS.includes(main.risk_level) ? main.risk_level : "none";
    const cameras = cameraNames(clips).join(STRINGS.cameraSeparator);
    const element = this._itemElement(main);
    element.className = `clip incident risk-${risk}`;
    element.removeAttribute("data-clip-id");
    element.dataset.incidentId = row.id;
    element.style.setProperty("--risk", RISK_COLOURS[risk]);
    const time = element.querySelector(".time");
    time.setAttribute("datetime", clips[0].start_time);
    time.textContent = this._time(clips[0].start_time);
    const camera = element.querySelector(".camera");
    camera.textContent = cameras;
    camera.setAttribute("title", `${STRINGS.incident}: ${cameras}`);
    camera.after(h("span", { class: "count-badge" }, STRINGS.clipCount(clips.length)));
    const expanded = this._expanded.has(row.id);
    const entry = this._incidents.get(row.id);
    const loading = Boolean(expanded && entry && entry.loading);
    const list = h("ol", {
      class: "incident-clips",
      hidden: !expanded,
      "aria-busy": loading ? "true" : undefined,
    });
    if (expanded) list.append(...clips.map((item) => this._itemElement(item)));
    const toggle = h(
      "button",
      {
        class: "action expand",
        type: "button",
        "aria-expanded": String(expanded),
        "@click": () => {
          if (this._expanded.has(row.id)) {
            this._expanded.delete(row.id);
            this._renderIncident(row.id);
          } else {
            // Shown at once with the clips it has; complete when the answer is in.
            this._expanded.add(row.id);
            this._loadIncident(row.id);
          }
        },
      },
      expanded ? STRINGS.hideClips : STRINGS.showClips(clips.length),
    );
    const slot = element.querySelector(".review");
    slot.replaceChildren(this._incidentReviewPart(clips, slot));
    element.querySelector(".actions").prepend(toggle);
    const body = element.querySelector(".body");
    if (expanded && entry && entry.error) {
      element.classList.add("incident-failed");
      body.append(
        h("div", { class: "incident-status", role: "status" }, [
          h("span", { class: "review-error" }, `${STRINGS.incidentFailed}: ${entry.error}`),
          h(
            "button",
            {
              class: "action retry",
              type: "button",
              "@click": () => this._loadIncident(row.id),
            },
            STRINGS.retry,
          ),
        ]),
      );
    } else if (loading && !entry.clips) {
      body.append(h("div", { class: "incident-status", role: "status" }, STRINGS.incidentLoading));
    }
    body.append(list);
    return element;
  }

  _isReviewed(item) {
    return item.review === "reviewed" || item.review === "false_alarm";
  }

  _incidentReviewPart(clips, slot) {
    if (clips.every((item) => this._isReviewed(item))) {
      return h("span", { class: "badge reviewed" }, `✓ ${STRINGS.reviewed}`);
    }
    const button = h(
      "button",
      { class: "action mark-reviewed", type: "button" },
      STRINGS.markReviewed,
    );
    button.addEventListener("click", () => this._markIncidentReviewed(clips, button, slot));
    return button;
  }

  _reviewPart(item, slot) {
    if (this._isReviewed(item)) {
      return h(
        "span",
        { class: `badge ${item.review}` },
        item.review === "reviewed" ? `✓ ${STRINGS.reviewed}` : STRINGS.falseAlarm,
      );
    }
    const button = h(
      "button",
      { class: "action mark-reviewed", type: "button" },
      STRINGS.markReviewed,
    );
    button.addEventListener("click", () => this._markReviewed(item, button, slot));
    return button;
  }

  _play(item) {
    this._closePlayer();
    const close = h("button", { type: "button", class: "close" }, STRINGS.close);
    const content = item.media_url
      ? h("video", {
          src: item.media_url,
          controls: true,
          autoplay: true,
          playsinline: true,
          ".muted": true,
          poster: item.snapshot_url || undefined,
        })
      : h("div", { class: "status" }, STRINGS.noVideo);
    // A native modal dialog: the top layer, above the dashboard whatever contains the card.
    const player = h(
      "dialog",
      {
        class: "player",
        "aria-label": STRINGS.play,
        "@click": (ev) => {
          if (ev.target === player) this._closePlayer(); // the backdrop
        },
        "@close": () => this._closePlayer(),
      },
      h("div", { class: "frame" }, [
        h("div", { class: "bar" }, [
          h("span", {}, `${item.camera || ""} · ${this._time(item.start_time)}`),
          close,
        ]),
        content,
      ]),
    );
    close.addEventListener("click", () => this._closePlayer());
    this.shadowRoot.append(player);
    this._player = player;
    player.showModal();
    close.focus();
  }

  _closePlayer() {
    const player = this._player;
    if (!player) return;
    this._player = null;
    const video = player.querySelector("video");
    if (video) {
      video.pause();
      video.removeAttribute("src");
      video.load();
    }
    if (player.open) player.close();
    player.remove();
  }
}

if (!customElements.get("homesec-timeline-card")) {
  customElements.define("homesec-timeline-card", HomesecTimelineCard);
}
window.customCards = window.customCards || [];
if (!window.customCards.some((card) => card.type === "homesec-timeline-card")) {
  window.customCards.push({
    type: "homesec-timeline-card",
    name: "HomeSec timeline",
    description: "HomeSec's clips: snapshot, risk, activity and summary; filter, search, play.",
    preview: true,
    documentationURL: "https://github.com/homesec-dev/homesec-ha#timeline-card",
  });
}
console.info(`%c HOMESEC-TIMELINE-CARD %c ${CARD_VERSION} `, "color:#fff;background:#03a9f4",
  "color:#03a9f4");
