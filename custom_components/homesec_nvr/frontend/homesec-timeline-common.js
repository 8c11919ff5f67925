/*
 * HomeSec timeline card: what the card (homesec-timeline-card.js) and its visual editor
 * (homesec-timeline-card-editor.js) share: constants, every user-visible string, the risk
 * colours and the DOM helper that sets text with text nodes only (never innerHTML).
 */

export const CARD_VERSION = "0.1.0";
export const DOMAIN = "homesec_nvr";
export const RISKS = ["low", "medium", "high", "critical"];
export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 500;
// The device models of HomeSec's cameras (entity.py: the source kind + " camera").
export const CAMERA_MODELS = ["Local folder camera", "Rtsp camera", "Frigate camera", "Ftp camera"];

// Every string the card shows, in one place (to be translated later).
export const STRINGS = {
  title: "HomeSec timeline",
  allCameras: "All cameras",
  anyRisk: "Any risk",
  risk: { low: "Low", medium: "Medium", high: "High", critical: "Critical", none: "No risk" },
  searchPlaceholder: "Search clips",
  cameraFilter: "Camera",
  riskFilter: "Minimum risk",
  loading: "Loading clips…",
  empty: "No clips match.",
  emptyHint: "Clips appear here as HomeSec records them.",
  error: "Could not load the clips",
  retry: "Try again",
  loadMore: "Load more",
  markReviewed: "Mark reviewed",
  reviewing: "Marking…",
  reviewed: "Reviewed",
  falseAlarm: "False alarm",
  reviewFailed: "Could not mark the clip reviewed",
  reviewIncidentFailed: "Could not mark the clips reviewed",
  play: "Play clip",
  close: "Close",
  noVideo: "This clip has no video",
  noAnalysis: "No analysis",
  skipped: {
    vlm_not_configured: "No analysis: no vision model is set up",
    run_mode_never: "No analysis: analysis is off for this camera",
    no_trigger_class: "No analysis: no trigger object was seen",
    vlm_failed: "The analysis failed",
  },
  motion: "Motion",
  shown: (count, total) => `${count} of ${total}`,
  // An incident: one row for the clips of several cameras (a camera group) that followed
  // each other; its cameras in time order, joined by the separator.
  incident: "Incident",
  cameraSeparator: " → ",
  clipCount: (count) => (count === 1 ? "1 clip" : `${count} clips`),
  showClips: (count) => (count === 1 ? "Show 1 clip" : `Show ${count} clips`),
  hideClips: "Hide clips",
  // Expanding an incident asks for all its clips (of every camera, beyond the loaded page).
  incidentLoading: "Loading the incident's clips…",
  incidentFailed: "Could not load the incident's clips",
  editor: {
    title: "Title",
    cameras: "Cameras (empty: all HomeSec cameras)",
    min_risk: "Minimum risk",
    limit: "Clips per page",
  },
};

export const RISK_COLOURS = {
  low: "var(--success-color, var(--green-color, #43a047))",
  medium: "var(--amber-color, #ffc107)",
  high: "var(--orange-color, #ff9800)",
  critical: "var(--error-color, var(--red-color, #db4437))",
  none: "var(--disabled-color, var(--secondary-text-color, #9e9e9e))",
};

/** An element with attributes, properties (`.name`), listeners (`@event`) and children;
 * string children become text nodes (escaped by construction). */
export function h(tag, attrs = {}, children = []) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("@")) el.addEventListener(key.slice(1), value);
    else if (key.startsWith(".")) el[key.slice(1)] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of [].concat(children)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function label(value) {
  const text = String(value || "").replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** HomeSec's camera devices: {id, name}, by name. */
export function homesecCameras(hass) {
  const devices = Object.values((hass && hass.devices) || {});
  return devices
    .filter((device) => {
      const ours = (device.identifiers || []).some((pair) => pair[0] === DOMAIN)
        || device.manufacturer === "HomeSec";
      return ours && /camera$/i.test(device.model || "");
    })
    .map((device) => ({ id: device.id, name: device.name_by_user || device.name || device.id }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function normaliseConfig(config) {
  if (!config || typeof config !== "object") throw new Error("Invalid configuration");
  const cameras = [].concat(config.cameras || []).filter((id) => typeof id === "string" && id);
  if (config.min_risk && !RISKS.includes(config.min_risk)) {
    throw new Error(`min_risk must be one of ${RISKS.join(", ")}`);
  }
  const limit = config.limit === undefined ? DEFAULT_LIMIT : Number(config.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new Error(`limit must be a whole number from 1 to ${MAX_LIMIT}`);
  }
  return { ...config, cameras, min_risk: config.min_risk || "", limit };
}
