"""The content of an alert email: subject, plain-text and HTML bodies, the inline snapshot.

Both transports (smtp.py, sendgrid.py) send this same content. Everything in the HTML is
escaped: the summary and the observations come from a vision model, camera names from users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import tzinfo
from html import escape

from ..interfaces import PermanentError, PipelineError
from ..models import Alert
from ..payload import ENGLISH, AlertWords, alert_title, describe_activity

# Refused by every mail system anyway; checked before anything is sent or saved.
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_NOT_IN_CID = re.compile(r"[^A-Za-z0-9.-]")


class EmailError(PipelineError):
    """A delivery that may work later (network, server busy); `key` names the form error."""

    def __init__(
        self, message: str, key: str = "cannot_connect", *, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.key = key


class EmailRefusedError(PermanentError):
    """A delivery the server refused for good (bad login, bad address, too large)."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


def valid_address(value: str) -> bool:
    """A plain address (`user@domain`) a mail server accepts; no display names, no lists."""
    return len(value) <= 254 and _ADDRESS.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class EmailContent:
    """One alert email, ready for a transport."""

    clip_id: str
    subject: str
    text: str
    html: str
    snapshot_jpeg: bytes | None
    # The snapshot's Content-ID (without angle brackets); the HTML shows it as `cid:<id>`.
    content_id: str

    @property
    def snapshot_filename(self) -> str:
        """The inline image's file name."""
        return f"{self.clip_id}.jpg"


def build_email(
    alert: Alert,
    clip_url: str | None,
    snapshot_jpeg: bytes | None,
    tz: tzinfo | None = None,
    words: AlertWords = ENGLISH,
) -> EmailContent:
    """The email for an alert in `words`' language; `clip_url` is the absolute, signed link
    (None: no link)."""
    content_id = f"snapshot-{_NOT_IN_CID.sub('-', alert.clip_id)}@homesec"
    analysis = alert.analysis
    when = alert.start_ts.astimezone(tz or words.time_zone).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    rows = [
        (words.email_camera, words.where(alert)),
        (words.email_time, when),
        (
            words.email_risk_level,
            words.risk(analysis.risk_level) if analysis else words.email_not_analysed,
        ),
        (words.email_activity, describe_activity(analysis, alert.detected_classes, words)),
        (words.email_detected_objects, ", ".join(alert.detected_classes) or words.email_no_objects),
    ]
    summary = analysis.summary if analysis else ""
    observations = list(analysis.observations) if analysis else []
    title = alert_title(alert, words)

    text = [title, ""]
    text += [f"{label}: {value}" for label, value in rows]
    if summary:
        text += ["", summary]
    text += [f"- {o}" for o in observations]
    text += [
        "",
        words.fill("email_open_clip", url=clip_url) if clip_url else words.email_no_clip_link,
    ]

    html = [
        '<!DOCTYPE html><html><body style="font-family:sans-serif">',
        f"<h2>{escape(title)}</h2>",
        "<table>",
        *(f'<tr><th align="left">{escape(k)}</th><td>{escape(v)}</td></tr>' for k, v in rows),
        "</table>",
    ]
    if summary:
        html.append(f"<p>{escape(summary)}</p>")
    if observations:
        html.append("<ul>" + "".join(f"<li>{escape(o)}</li>" for o in observations) + "</ul>")
    if snapshot_jpeg:
        alt = words.fill("email_snapshot_alt", camera=alert.camera_name)
        html.append(
            f'<p><img src="cid:{escape(content_id)}" alt="{escape(alt)}" '
            'style="max-width:100%"></p>'
        )
    if clip_url:
        html.append(f'<p><a href="{escape(clip_url)}">{escape(words.email_clip_link)}</a></p>')
    html.append("</body></html>")
    return EmailContent(
        clip_id=alert.clip_id,
        subject=" ".join(title.split()),
        text="\n".join(text) + "\n",
        html="\n".join(html) + "\n",
        snapshot_jpeg=snapshot_jpeg or None,
        content_id=content_id,
    )
