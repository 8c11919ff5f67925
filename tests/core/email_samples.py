"""An alert and its email, as the email tests send them."""

from __future__ import annotations

from datetime import UTC, datetime

from custom_components.homesec_nvr.core.models import (
    ActivityType,
    Alert,
    AnalysisResult,
    RiskLevel,
)
from custom_components.homesec_nvr.core.notifiers.email_message import EmailContent, build_email

# The start of a JPEG and a few bytes: enough to check the inline image arrives unchanged.
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"
CLIP_URL = "https://ha.example.com/api/homesec_nvr/clips/clip-1/clip?exp=1893456000&sig=" + (
    "ab" * 32
)
# What a vision model may answer; it must never become markup in the HTML body.
HOSTILE_SUMMARY = 'A person <script>alert("x")</script> & a <b>dog</b> at the door.'


def sample_alert(summary: str = "A person rings the bell.") -> Alert:
    """A high-risk alert of the camera "Porch" with an analysis."""
    return Alert(
        clip_id="clip-1",
        camera_id="porch",
        camera_name="Porch",
        start_ts=datetime(2026, 12, 1, 3, 4, 5, tzinfo=UTC),
        reason="risk high >= medium",
        detected_classes=("person", "dog"),
        analysis=AnalysisResult(
            risk_level=RiskLevel.HIGH,
            activity_type=ActivityType.LOITERING,
            summary=summary,
            observations=("Stands at the door for a minute", "Looks through the window"),
        ),
        clip_path=None,
        snapshot_path=None,
        clip_uri=None,
        snapshot_uri=None,
    )


def sample_content() -> EmailContent:
    """The email of `sample_alert`, with the snapshot and the clip link."""
    return build_email(sample_alert(), CLIP_URL, JPEG, UTC)


# The login the test SMTP servers accept, and the key the SendGrid contract server knows.
SMTP_USERS = {"cams@example.com": "correct horse"}
SENDGRID_KEY = "SG." + "k" * 22 + "." + "s" * 43
