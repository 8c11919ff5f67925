"""The alert email's content: every detail in both bodies, the HTML escaped, the snapshot
inline in a multipart/related part whose Content-ID the HTML points at."""

from __future__ import annotations

from datetime import UTC
from email.message import EmailMessage
from html import escape

from custom_components.homesec_nvr.core.notifiers.email_message import build_email, valid_address
from custom_components.homesec_nvr.core.notifiers.smtp import mime_message

from .email_samples import CLIP_URL, HOSTILE_SUMMARY, JPEG, sample_alert, sample_content


def test_both_bodies_carry_camera_time_risk_activity_summary_objects_and_link() -> None:
    # Given a high-risk alert with an analysis, a snapshot and a clip link
    # When its email is built
    content = sample_content()

    # Then the subject says the risk first, and both bodies carry every detail
    assert content.subject == "HIGH RISK at Porch"
    for body in (content.text, content.html):
        for part in ("Porch", "2026-12-01 03:04:05 UTC", "high", "loitering", "person, dog"):
            assert part in body, (part, body)
        assert "A person rings the bell." in body
        assert "Looks through the window" in body
    assert f"Open the clip: {CLIP_URL}" in content.text
    assert f'<a href="{escape(CLIP_URL)}">' in content.html
    assert f'<img src="cid:{content.content_id}"' in content.html
    assert content.snapshot_jpeg == JPEG


def test_the_html_body_escapes_what_the_model_wrote() -> None:
    # Given a summary with markup in it (the model's text is not trusted)
    alert = sample_alert(HOSTILE_SUMMARY)

    # When the email is built
    content = build_email(alert, CLIP_URL + "&x=<y>", JPEG, UTC)

    # Then the HTML shows the text and never the markup; the text body has it verbatim
    assert "<script>" not in content.html
    assert "<b>dog" not in content.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; a &lt;b&gt;dog" in content.html
    assert "&amp;x=&lt;y&gt;" in content.html
    assert HOSTILE_SUMMARY in content.text


def test_an_email_without_snapshot_or_link_says_so_and_shows_no_image() -> None:
    # Given an alert without analysis, snapshot or link (no URL known)
    alert = sample_alert()
    alert = type(alert)(**{**{f: getattr(alert, f) for f in alert.__slots__}, "analysis": None})

    # When its email is built
    content = build_email(alert, None, None, UTC)

    # Then it names what was detected, has no image and says there is no link
    assert content.subject == "HomeSec: Porch"
    assert "person, dog detected" in content.text
    assert "not analysed" in content.html
    assert "No link to the clip." in content.text
    assert "<img" not in content.html
    assert "<a href" not in content.html


def test_the_mime_message_puts_the_snapshot_inline_next_to_the_html() -> None:
    # Given an alert email
    content = sample_content()

    # When it is made a MIME message for two recipients
    message = mime_message(content, "cams@example.com", ("a@example.com", "b@example.com"))

    # Then text and HTML are alternatives, the HTML is related to the inline image
    assert message["From"] == "HomeSec <cams@example.com>"
    assert message["To"] == "a@example.com, b@example.com"
    assert message.get_content_type() == "multipart/alternative"
    text, related = list(message.iter_parts())
    assert text.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html, image = list(related.iter_parts())
    assert isinstance(html, EmailMessage) and isinstance(image, EmailMessage)
    assert html.get_content_type() == "text/html"
    assert image.get_content_type() == "image/jpeg"
    assert image["Content-ID"] == f"<{content.content_id}>"
    assert image.get_content_disposition() == "inline"
    assert image.get_content() == JPEG
    # The same message id on every attempt for the clip (a repeat shows once).
    assert message["Message-ID"] == "<alert-clip-1@homesec>"


def test_only_plain_addresses_are_valid() -> None:
    # Given addresses a user may type
    good = ["me@example.com", "first.last+cams@mail.example.org", "a@localhost"]
    bad = ["", "me", "me@", "@example.com", "Me <me@example.com>", "a@b.com, c@d.com", "a b@c.d"]

    # When they are checked
    # Then plain ones pass and everything else is refused
    assert all(valid_address(a) for a in good)
    assert not any(valid_address(a) for a in bad)
