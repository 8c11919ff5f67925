"""The brand images Home Assistant 2026.3+ serves for HomeSec follow the brands image rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

BRAND = Path(__file__).parent.parent / "custom_components" / "homesec_nvr" / "brand"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ICONS = ("icon.png", "icon@2x.png", "dark_icon.png", "dark_icon@2x.png")
LOGOS = ("logo.png", "logo@2x.png", "dark_logo.png", "dark_logo@2x.png")
MAX_BYTES = 100 * 1024


def _hidpi(name: str) -> bool:
    return name.endswith("@2x.png")


def _open(name: str) -> Image.Image:
    with Image.open(BRAND / name) as image:
        image.load()
        return image


def _visible_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    # Pixels a viewer would see at all (anti-aliasing leaves faint edges).
    return image.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()


@pytest.mark.parametrize("name", ICONS + LOGOS)
def test_brand_file_is_a_small_png_with_alpha(name: str) -> None:
    # Given a brand file Home Assistant looks for
    path = BRAND / name

    # When it is read
    data = path.read_bytes()
    image = _open(name)

    # Then it is a PNG, small, with an alpha channel and a transparent background
    assert data.startswith(PNG_SIGNATURE)
    assert image.format == "PNG"
    assert len(data) < MAX_BYTES
    assert image.mode == "RGBA"
    corners = [(0, 0), (image.width - 1, 0), (0, image.height - 1)]
    assert all(image.getpixel(xy)[3] == 0 for xy in corners)


@pytest.mark.parametrize("name", ICONS)
def test_icon_is_square_256_or_512_and_trimmed(name: str) -> None:
    # Given an icon
    image = _open(name)

    # When its size and its visible part are measured
    side = 512 if _hidpi(name) else 256
    box = _visible_box(image)

    # Then it is square at the exact size and the mark fills it along its longer side
    assert image.size == (side, side)
    assert box is not None
    left, top, right, bottom = box
    assert (top, bottom) == (0, side) or (left, right) == (0, side)


@pytest.mark.parametrize("name", LOGOS)
def test_logo_is_landscape_with_the_shortest_side_in_range_and_trimmed(name: str) -> None:
    # Given a logo
    image = _open(name)

    # When its size and its visible part are measured
    shortest = min(image.size)
    box = _visible_box(image)

    # Then it is landscape, its shortest side is within the brands rules, and it is trimmed
    assert image.width > image.height
    if _hidpi(name):
        assert 256 <= shortest <= 512
    else:
        assert 128 <= shortest <= 256
        assert image.width <= 512
    assert box == (0, 0, image.width, image.height)


@pytest.mark.parametrize("name", ICONS[:2] + LOGOS[:2])
def test_dark_variant_matches_the_light_one_and_hidpi_doubles(name: str) -> None:
    # Given a light image and its dark variant
    light, dark = _open(name), _open(f"dark_{name}")

    # When the high-DPI version is compared with the 1x one
    one_x = _open(name.replace("@2x", ""))
    two_x = _open(name.replace("@2x", "").replace(".png", "@2x.png"))

    # Then the dark variant has the light one's size and @2x is twice the 1x (within rounding)
    assert dark.size == light.size
    assert two_x.height == 2 * one_x.height
    assert abs(two_x.width - 2 * one_x.width) <= 2


def test_no_other_files_in_the_brand_folder() -> None:
    # Given the brand folder
    # When its files are listed
    files = {path.name for path in BRAND.iterdir()}

    # Then it holds exactly the eight images Home Assistant serves
    assert files == set(ICONS + LOGOS)
