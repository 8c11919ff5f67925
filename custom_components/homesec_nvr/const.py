"""Constants of the HomeSec integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "homesec_nvr"
MANUFACTURER: Final = "HomeSec"

# Subentry types (one per clip source).
SUBENTRY_LOCAL_FOLDER: Final = "local_folder"
SUBENTRY_FRIGATE: Final = "frigate"
SUBENTRY_RTSP: Final = "rtsp"
SUBENTRY_FTP: Final = "ftp"

# Hub config entry data.
CONF_STORAGE_PATH: Final = "storage_path"
# The hub's secret that signs clip and snapshot links (config entry data, never shown).
CONF_LINK_SECRET: Final = "link_secret"  # noqa: S105 - a key name, not a secret
# How long a link in a notification, event or email opens its clip (hours).
CONF_LINK_EXPIRY_HOURS: Final = "link_expiry_hours"
DEFAULT_LINK_EXPIRY_HOURS: Final = 168
# MQTT delivery (through Home Assistant's MQTT integration).
CONF_MQTT_ENABLED: Final = "mqtt_enabled"
CONF_MQTT_TOPIC_PREFIX: Final = "mqtt_topic_prefix"
CONF_MQTT_QOS: Final = "mqtt_qos"
CONF_MQTT_RETAIN: Final = "mqtt_retain"
CONF_MQTT_SNAPSHOT: Final = "mqtt_snapshot"
DEFAULT_MQTT_TOPIC_PREFIX: Final = "homesec"
DEFAULT_MQTT_QOS: Final = 1
# Email delivery (options; the SMTP password and the SendGrid key live in the entry data).
CONF_EMAIL_SERVICE: Final = "email_service"  # off | smtp | sendgrid
CONF_EMAIL_FROM: Final = "email_from"
CONF_EMAIL_TO: Final = "email_to"
CONF_SMTP_HOST: Final = "smtp_host"
CONF_SMTP_PORT: Final = "smtp_port"
CONF_SMTP_SECURITY: Final = "smtp_security"  # starttls | tls | none
CONF_SMTP_USERNAME: Final = "smtp_username"
CONF_SMTP_PASSWORD: Final = "smtp_password"  # noqa: S105 - a key name, not a secret
CONF_SMTP_VERIFY_SSL: Final = "smtp_verify_ssl"
CONF_SENDGRID_API_KEY: Final = "sendgrid_api_key"
EMAIL_OFF: Final = "off"
EMAIL_SMTP: Final = "smtp"
EMAIL_SENDGRID: Final = "sendgrid"

# Hub options.
CONF_RETENTION_DAYS: Final = "retention_days"
CONF_MAX_STORAGE_GB: Final = "max_storage_gb"
CONF_MAX_CLIPS_IN_FLIGHT: Final = "max_clips_in_flight"
CONF_MAX_ATTEMPTS: Final = "max_attempts"
CONF_ALERTS_ENABLED: Final = "alerts_enabled"
CONF_MIN_RISK_LEVEL: Final = "min_risk_level"
CONF_NOTIFY_ON_ACTIVITY_TYPES: Final = "notify_on_activity_types"
CONF_NOTIFY_ON_MOTION: Final = "notify_on_motion"
CONF_TRIGGER_CLASSES: Final = "trigger_classes"
CONF_ALERT_HOLD_S: Final = "alert_hold_seconds"
CONF_NOTIFY_SERVICES: Final = "notify_services"
CONF_PERSISTENT_NOTIFICATION: Final = "persistent_notification"

# Object filter (hub defaults in the options; the same keys override them per camera).
CONF_FILTER: Final = "filter"
CONF_FILTER_MODEL_PATH: Final = "filter_model_path"
CONF_FILTER_CLASSES: Final = "filter_classes"
CONF_FILTER_MIN_CONFIDENCE: Final = "filter_min_confidence"
CONF_FILTER_MIN_BOX_HEIGHT: Final = "filter_min_box_height"
CONF_FILTER_MIN_HITS: Final = "filter_min_hits"
CONF_FILTER_SAMPLE_INTERVAL_S: Final = "filter_sample_interval_seconds"
CONF_FILTER_MAX_FRAMES: Final = "filter_max_frames"
CONF_FILTER_EARLY_EXIT: Final = "filter_early_exit"
FILTER_NONE: Final = "none"
FILTER_ONNX: Final = "onnx"
SECTION_OBJECT_FILTER: Final = "object_filter"
ONNXRUNTIME_REQUIREMENT: Final = "onnxruntime>=1.20.0"

# Vision model (hub options; the API key lives in the entry data).
CONF_VLM_ENABLED: Final = "vlm_enabled"
CONF_VLM_BASE_URL: Final = "vlm_base_url"
CONF_VLM_API_KEY: Final = "vlm_api_key"
CONF_VLM_MODEL: Final = "vlm_model"
CONF_VLM_RUN_MODE: Final = "vlm_run_mode"
CONF_VLM_RESPONSE_LANGUAGE: Final = "vlm_response_language"
CONF_VLM_MAX_FRAMES: Final = "vlm_max_frames"
CONF_VLM_MAX_IMAGE_SIDE: Final = "vlm_max_image_side"
CONF_VLM_JPEG_QUALITY: Final = "vlm_jpeg_quality"
CONF_VLM_IMAGE_DETAIL: Final = "vlm_image_detail"
CONF_VLM_REQUEST_TIMEOUT_S: Final = "vlm_request_timeout_s"
CONF_VLM_MAX_OUTPUT_TOKENS: Final = "vlm_max_output_tokens"
CONF_VLM_TEMPERATURE: Final = "vlm_temperature"
CONF_VLM_PRICE_PROMPT: Final = "vlm_price_prompt_per_million"
CONF_VLM_PRICE_COMPLETION: Final = "vlm_price_completion_per_million"
CONF_VLM_MAX_CALLS_PER_DAY: Final = "vlm_max_calls_per_day"
CONF_VLM_MAX_TOKENS_PER_DAY: Final = "vlm_max_tokens_per_day"
CONF_CAMERA_CONTEXT: Final = "camera_context"
# The owner's notes for every camera (hub) and the activity types a camera can see (per camera;
# a camera's vlm_response_language overrides the hub's).
CONF_VLM_HOUSEHOLD_NOTES: Final = "vlm_household_notes"
CONF_VISIBLE_ACTIVITY_TYPES: Final = "visible_activity_types"
DEFAULT_VLM_BASE_URL: Final = "https://api.openai.com/v1"
DEFAULT_VLM_MODEL: Final = "gpt-4o-mini"
ISSUE_VLM_MODEL_NOT_FOUND: Final = "vlm_model_not_found"
# The vision model backend: an OpenAI-compatible server or Home Assistant's AI Task (2025.8+).
CONF_VLM_BACKEND: Final = "vlm_backend"
CONF_VLM_AI_TASK_ENTITY: Final = "vlm_ai_task_entity"
VLM_BACKEND_OPENAI: Final = "openai_compatible"
VLM_BACKEND_AI_TASK: Final = "ai_task"
ISSUE_VLM_AI_TASK_MISSING: Final = "vlm_ai_task_entity_missing"
ISSUE_VLM_AI_TASK_NO_ATTACHMENTS: Final = "vlm_ai_task_no_attachments"
VLM_USAGE_STORAGE_KEY: Final = "homesec_nvr.vlm_usage"

# Frigate subentries (match keys are the core's: cameras, labels, sub_labels, min_score,
# zones, min_duration_s, severities).
CONF_VERIFY_SSL: Final = "verify_ssl"
CONF_TOPIC_PREFIX: Final = "topic_prefix"
CONF_FRIGATE_MODE: Final = "mode"
CONF_PADDING_S: Final = "padding_s"
CONF_DOWNLOAD_WINDOW_S: Final = "download_window_s"
CONF_WRITE_DESCRIPTION: Final = "write_description"
CONF_PER_CAMERA_ALERT: Final = "per_camera_alert"
FILTER_FRIGATE: Final = "frigate"
EVENT_CLIP_DOWNLOAD_FAILED: Final = "homesec_nvr_clip_download_failed"
ISSUE_MQTT_UNAVAILABLE: Final = "mqtt_unavailable"
FRIGATE_CLIPS_DIR: Final = "homesec/frigate_clips"

# RTSP subentries.
CONF_STREAM_URL: Final = "stream_url"
CONF_CAMERA_ENTITY: Final = "camera_entity"
CONF_DETECT_URL: Final = "detect_url"
CONF_DETECT_FPS: Final = "detect_fps"
CONF_DETECT_WIDTH: Final = "detect_width"
CONF_MOTION_THRESHOLD: Final = "motion_threshold"
CONF_MIN_AREA_PERCENT: Final = "min_area_percent"
CONF_MASKS: Final = "masks"
CONF_PRE_ROLL_S: Final = "pre_roll_s"
CONF_POST_ROLL_S: Final = "post_roll_s"
CONF_MAX_CLIP_S: Final = "max_clip_s"
CONF_MIN_CLIP_S: Final = "min_clip_s"
SECTION_MOTION: Final = "motion"
RTSP_CLIPS_DIR: Final = "homesec/rtsp_clips"
ISSUE_CAMERA_UNREACHABLE: Final = "camera_unreachable"

# Camera subentry data.
CONF_FOLDER: Final = "folder"
CONF_POLL_INTERVAL_S: Final = "poll_interval_seconds"
CONF_STABLE_TIME_S: Final = "stable_time_seconds"
CONF_DELETE_AFTER_STORE: Final = "delete_after_store"

DEFAULT_STORAGE_SUBDIR: Final = "homesec"
DEFAULT_RETENTION_DAYS: Final = 30
DEFAULT_MAX_STORAGE_GB: Final = 10.0
DEFAULT_MAX_CLIPS_IN_FLIGHT: Final = 2
DEFAULT_MAX_ATTEMPTS: Final = 3
DEFAULT_MIN_RISK_LEVEL: Final = "medium"
DEFAULT_TRIGGER_CLASSES: Final = ("person",)
DEFAULT_ALERT_HOLD_S: Final = 60
# Seconds after a camera's alert during which its next clips do not alert again (0: off).
CONF_ALERT_COOLDOWN_S: Final = "alert_cooldown_seconds"
# Alert as soon as a live source sees a trigger object (the clip's analysis updates it).
CONF_LIVE_ALERTS: Final = "live_alerts"
# A camera's clip that starts within this time of its previous clip's end joins that clip's
# event (one notification, updated), for sources that do not name events (watched folder).
CONF_GROUP_WINDOW_S: Final = "group_window_seconds"
DEFAULT_GROUP_WINDOW_S: Final = 0
# Camera groups (an area each), a line per group: "Front: Driveway, Front door". Clips of one
# group's cameras that overlap or follow within the incident gap are one incident.
CONF_CAMERA_GROUPS: Final = "camera_groups"
CONF_INCIDENT_GAP_S: Final = "incident_gap_seconds"
DEFAULT_INCIDENT_GAP_S: Final = 60
DEFAULT_LIVE_ALERTS: Final = True
DEFAULT_ALERT_COOLDOWN_S: Final = 0
# The notifications' "Snooze 1 h" action: HOMESEC_SNOOZE_<camera id>.
SNOOZE_ACTION_PREFIX: Final = "HOMESEC_SNOOZE_"
SNOOZE_ACTION_MINUTES: Final = 60
# The notifications' "Mark reviewed" action: HOMESEC_REVIEW_<clip id>.
REVIEW_ACTION_PREFIX: Final = "HOMESEC_REVIEW_"
SERVICE_SNOOZE: Final = "snooze"
ATTR_DEVICE_ID: Final = "device_id"
ATTR_MINUTES: Final = "minutes"
DEFAULT_POLL_INTERVAL_S: Final = 1.0
DEFAULT_FILTER_CLASSES: Final = (
    "person",
    "car",
    "truck",
    "bus",
    "motorcycle",
    "bicycle",
    "dog",
    "cat",
)
DEFAULT_FILTER_MIN_CONFIDENCE: Final = 0.5
DEFAULT_FILTER_MIN_BOX_HEIGHT: Final = 0.0
DEFAULT_FILTER_MIN_HITS: Final = 1
DEFAULT_FILTER_SAMPLE_INTERVAL_S: Final = 1.0
DEFAULT_FILTER_MAX_FRAMES: Final = 30
DEFAULT_STABLE_TIME_S: Final = 2.0

# Where the clip database lives, relative to the HA config dir.
DB_RELATIVE_PATH: Final = "homesec/homesec.db"

# Bus events (stable, documented payloads).
EVENT_CLIP_PROCESSED: Final = "homesec_nvr_clip_processed"
EVENT_ALERT: Final = "homesec_nvr_alert"
# A clip was marked reviewed or a false alarm, or its review cleared (clip_id, camera, review).
EVENT_CLIP_REVIEWED: Final = "homesec_nvr_clip_reviewed"

# A trigger object seen live (before its event's clip exists): LiveDetection + decision.
EVENT_LIVE_DETECTION: Final = "homesec_nvr_live_detection"

# Event entity event types.
EVENT_TYPE_LIVE_DETECTION: Final = "live_detection"
EVENT_TYPE_CLIP_RECORDED: Final = "clip_recorded"
EVENT_TYPE_OBJECTS_DETECTED: Final = "objects_detected"
EVENT_TYPE_ANALYZED: Final = "analyzed"
EVENT_TYPE_ALERT: Final = "alert"
EVENT_TYPES: Final = (
    EVENT_TYPE_LIVE_DETECTION,
    EVENT_TYPE_CLIP_RECORDED,
    EVENT_TYPE_OBJECTS_DETECTED,
    EVENT_TYPE_ANALYZED,
    EVENT_TYPE_ALERT,
)

# Repair issue ids.
ISSUE_FOLDER_UNREADABLE: Final = "folder_unreadable"
ISSUE_ONNXRUNTIME_UNAVAILABLE: Final = "onnxruntime_unavailable"
ISSUE_MODEL_MISSING: Final = "model_missing"
ISSUE_STORAGE_UNAVAILABLE: Final = "storage_unavailable"
ISSUE_DATABASE_UNAVAILABLE: Final = "database_unavailable"
ISSUE_DATABASE_RECOVERED: Final = "database_recovered"
ISSUE_TASK_FAILING: Final = "task_failing"
ISSUE_NOTIFIER_FAILING: Final = "notifier_failing"

# Services.
SERVICE_CLEANUP: Final = "cleanup"
ATTR_DRY_RUN: Final = "dry_run"
SERVICE_REVIEW: Final = "review"
ATTR_CLIP_ID: Final = "clip_id"
ATTR_REVIEW: Final = "review"
# The review service's value that clears a clip's review.
REVIEW_NONE: Final = "none"

# FTP cameras: the hub's FTP server (options) and each camera's login (subentry data).
CONF_FTP_BIND_ADDRESS: Final = "ftp_bind_address"
CONF_FTP_PORT: Final = "ftp_port"
CONF_FTP_PASSIVE_MIN: Final = "ftp_passive_port_min"
CONF_FTP_PASSIVE_MAX: Final = "ftp_passive_port_max"
CONF_FTP_MAX_UPLOAD_MB: Final = "ftp_max_upload_mb"
CONF_FTP_MAX_SESSIONS: Final = "ftp_max_sessions"
CONF_SNAPSHOT_GAP_S: Final = "snapshot_gap_seconds"
DEFAULT_FTP_BIND_ADDRESS: Final = "0.0.0.0"  # noqa: S104 - cameras are on the LAN
DEFAULT_FTP_PORT: Final = 2121
DEFAULT_FTP_PASSIVE_MIN: Final = 30000
DEFAULT_FTP_PASSIVE_MAX: Final = 30009
DEFAULT_FTP_MAX_UPLOAD_MB: Final = 512
DEFAULT_FTP_MAX_SESSIONS: Final = 16
DEFAULT_SNAPSHOT_GAP_S: Final = 5.0
FTP_UPLOADS_DIR: Final = "homesec/ftp_uploads"
# Explicit FTPS (options): the certificate and key (PEM files); required refuses plain FTP.
CONF_FTP_TLS_CERTFILE: Final = "ftp_tls_certfile"
CONF_FTP_TLS_KEYFILE: Final = "ftp_tls_keyfile"
CONF_FTP_TLS_REQUIRED: Final = "ftp_tls_required"

# The off-site copy (Dropbox): hub options; the OAuth2 grant is in the entry data under
# "auth_implementation" and "token" (Home Assistant's OAuth2 layout).
CONF_OFFSITE_ENABLED: Final = "offsite_enabled"
CONF_OFFSITE_ROOT: Final = "offsite_root"
CONF_OFFSITE_RETENTION_DAYS: Final = "offsite_retention_days"
# Camera ids whose clips are copied; empty or missing: every camera.
CONF_OFFSITE_CAMERAS: Final = "offsite_cameras"
DEFAULT_OFFSITE_ROOT: Final = "HomeSec"
DEFAULT_OFFSITE_RETENTION_DAYS: Final = 30
# The largest the copy may grow (GB); the oldest day folders go first. 0: no limit.
CONF_OFFSITE_MAX_GB: Final = "offsite_max_total_gb"
DEFAULT_OFFSITE_MAX_GB: Final = 0.0
# A reauth flow with this in its data is the Dropbox sign-in (else: the vision model key).
REAUTH_KIND: Final = "reauth_kind"
REAUTH_DROPBOX: Final = "dropbox"
ISSUE_OFFSITE_SIGN_IN: Final = "offsite_sign_in"
ISSUE_OFFSITE_FULL: Final = "offsite_full"
