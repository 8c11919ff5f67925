"""Every string the integration can show has an English translation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent / "custom_components" / "homesec_nvr"
# Error keys flows return through variables (reasons of typed errors).
FILTER_ERRORS = {
    "model_not_found",
    "model_load_failed",
    "model_bad_shape",
    "onnxruntime_unavailable",
    "model_not_configured",
    "path_not_absolute",
}
RTSP_ERRORS = {
    "cannot_connect",
    "auth_failed",
    "no_video_stream",
    "unsupported_codec",
    "stream_required",
    "camera_has_no_stream",
    "invalid_motion_settings",
}
FRIGATE_ERRORS = {"cannot_connect", "invalid_auth", "not_frigate", "mqtt_not_configured"}
VISION_ERRORS = {"cannot_connect", "invalid_auth", "model_not_found"}


def _strings() -> dict[str, Any]:
    return json.loads((ROOT / "strings.json").read_text())


def _code(*names: str) -> str:
    files = [ROOT / n for n in names] if names else list(ROOT.rglob("*.py"))
    return "\n".join(p.read_text() for p in files)


def _camera_kind_modules() -> list[str]:
    """The camera kinds' modules (they define their kinds' extra entities)."""
    return [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "cameras").glob("*.py"))]


def _flow_modules() -> list[str]:
    """The config flow and the flows' modules (they define the forms' selectors)."""
    flows = sorted((ROOT / "flows").glob("*.py"))
    return ["config_flow.py", *(p.relative_to(ROOT).as_posix() for p in flows)]


def test_english_translation_is_strings_json() -> None:
    # Given strings.json and translations/en.json
    strings = _strings()

    # When the English translation is read
    english = json.loads((ROOT / "translations" / "en.json").read_text())

    # Then they are the same
    assert english == strings


def test_every_key_the_code_uses_is_translated() -> None:
    # Given the source code and the strings
    strings, code = _strings(), _code()
    platforms = _code(
        "sensor.py", "binary_sensor.py", "event.py", "image.py", *_camera_kind_modules()
    )
    entity_keys = {key for platform in strings["entity"].values() for key in platform}
    flow_errors = (
        set(strings["config"]["error"])
        | set(strings["options"]["error"])
        | {k for flow in strings["config_subentries"].values() for k in flow["error"]}
    )

    # When every literal key is collected
    entity_used = set(re.findall(r'translation_key\s*=\s*"(\w+)"', platforms))
    selectors_used = set(re.findall(r'translation_key="(\w+)"', _code(*_flow_modules())))
    errors_used = set(re.findall(r'errors\[[^\]]+\] = "(\w+)"', code))
    issues_used = set(re.findall(r'ISSUE_\w+: Final = "(\w+)"', _code("const.py")))
    exceptions_used = set(
        re.findall(r'translation_domain=DOMAIN,\s*translation_key="(\w+)"', code)
    ) | set(re.findall(r'\b(?:invalid|failed|_error)\(\s*"(\w+)"', code))  # service_errors.py

    # Then each one has a string (and the scan found the keys at all)
    assert len(entity_used) >= 20
    assert len(selectors_used) >= 6
    assert entity_used - entity_keys == set()
    assert selectors_used - set(strings["selector"]) == set()
    assert errors_used - flow_errors == set()
    # (an issue whose text depends on its cause has one translation per cause, <id>_<cause>)
    untranslated_issues = {
        issue
        for issue in issues_used
        if issue not in strings["issues"]
        and not any(key.startswith(f"{issue}_") for key in strings["issues"])
    }
    assert untranslated_issues == set()
    assert len(exceptions_used) >= 3
    assert exceptions_used - set(strings["exceptions"]) == set()


def test_errors_returned_by_reason_are_translated_in_their_flow() -> None:
    # Given the subentry and options flows' error tables
    strings = _strings()
    subentries = strings["config_subentries"]

    # When the reasons each flow can return are checked, Then each has a string
    assert FILTER_ERRORS - set(subentries["local_folder"]["error"]) == set()
    assert (RTSP_ERRORS | FILTER_ERRORS) - set(subentries["rtsp"]["error"]) == set()
    assert (FRIGATE_ERRORS | FILTER_ERRORS) - set(subentries["frigate"]["error"]) == set()
    assert (VISION_ERRORS | FILTER_ERRORS) - set(strings["options"]["error"]) == set()
    # (the reauthentication step checks the vision model like the options page)
    assert VISION_ERRORS - set(strings["config"]["error"]) == set()
