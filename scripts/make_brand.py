"""Draw HomeSec's brand images (icon and logo, light and dark) with Pillow.

Home Assistant 2026.3 and later serve a custom integration's own brand images from
`custom_components/<domain>/brand/`. The files follow the Home Assistant brands repository's
image rules: PNG with a transparent background, trimmed; the icon square, 256x256 (512x512 for
@2x); the logo landscape with its shortest side 128 px (256 px for @2x).

The mark is a shield with an eye whose iris is a camera lens. Everything is drawn at a large
scale and scaled down, so the edges are anti-aliased. The logo sets the word "HomeSec" in
DejaVu Sans Bold next to the mark; without that font only the mark is drawn (logo = icon).

    python scripts/make_brand.py [--out DIR]
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "custom_components" / "homesec_nvr" / "brand"
FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
)
# The mark is drawn on a canvas this large (width 1000 units, height 1150) and scaled down.
SIZE = 2000
ICON = 256
LOGO_HEIGHT = 128
WORD = ("Home", "Sec")

Color = tuple[int, int, int, int]


def _rgb(hex_color: str, alpha: int = 255) -> Color:
    value = int(hex_color.lstrip("#"), 16)
    return (value >> 16 & 255, value >> 8 & 255, value & 255, alpha)


@dataclass(frozen=True)
class Palette:
    """The colours of one variant (light backgrounds or dark backgrounds)."""

    shield_left: Color
    shield_right: Color
    rim: Color
    eye: Color
    iris: Color
    lens_ring: Color
    lens: Color
    glint: Color
    word_home: Color
    word_sec: Color


LIGHT = Palette(
    shield_left=_rgb("#1E6FD9"),
    shield_right=_rgb("#1759B8"),
    rim=_rgb("#FFFFFF"),
    eye=_rgb("#FFFFFF"),
    iris=_rgb("#12B5CB"),
    lens_ring=_rgb("#0B8EA6"),
    lens=_rgb("#0B1F3A"),
    glint=_rgb("#FFFFFF"),
    word_home=_rgb("#1B2A41"),
    word_sec=_rgb("#1E6FD9"),
)
DARK = Palette(
    shield_left=_rgb("#3D8BF2"),
    shield_right=_rgb("#2B73D6"),
    rim=_rgb("#EAF2FF"),
    eye=_rgb("#FFFFFF"),
    iris=_rgb("#19C3D9"),
    lens_ring=_rgb("#0B8EA6"),
    lens=_rgb("#0B1F3A"),
    glint=_rgb("#FFFFFF"),
    word_home=_rgb("#F1F5F9"),
    word_sec=_rgb("#5AA2FF"),
)


def _bezier(
    p0: tuple[float, float],
    p1: tuple[float, float],
    p2: tuple[float, float],
    p3: tuple[float, float],
    steps: int = 64,
) -> list[tuple[float, float]]:
    """Points along a cubic Bezier curve, p0 excluded."""
    points = []
    for i in range(1, steps + 1):
        t = i / steps
        u = 1 - t
        points.append(
            (
                u**3 * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t**3 * p3[0],
                u**3 * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t**3 * p3[1],
            )
        )
    return points


def _shield(inset: float = 0.0) -> list[tuple[float, float]]:
    """The shield outline in units (1000 wide, 1150 tall), shrunk by `inset` units."""
    w, h = 1000.0, 1150.0
    cx = w / 2
    top, shoulder, side_end, bottom = 0.0 + inset, 120.0 + inset, 560.0, h - inset * 1.35
    right = w - inset
    # The right half, from the top centre clockwise to the bottom point, then mirrored.
    half = [(cx, top)]
    half += _bezier((cx, top), (cx + 150, 75 + inset), (right - 160, shoulder), (right, shoulder))
    half += [(right, side_end)]
    half += _bezier((right, side_end), (right, 850), (cx + 230, 1040), (cx, bottom))
    mirrored = [(w - x, y) for x, y in reversed(half[1:-1])]
    return half + mirrored


def _scaled(
    points: list[tuple[float, float]], scale: float, dx: float, dy: float
) -> list[tuple[float, float]]:
    return [(x * scale + dx, y * scale + dy) for x, y in points]


def _eye(cx: float, cy: float, half_width: float, half_height: float) -> list[tuple[float, float]]:
    """An almond: two circular arcs meeting in sharp corners at (cx +- half_width, cy)."""
    # The circle through both corners and the top of the eye.
    radius = (half_width**2 + half_height**2) / (2 * half_height)
    spread = math.asin(half_width / radius)
    points = []
    for sign in (1, -1):
        centre_y = cy + sign * (radius - half_height)
        for i in range(129):
            angle = -spread + 2 * spread * i / 128
            x = cx + radius * math.sin(angle) * sign
            y = centre_y - sign * radius * math.cos(angle)
            points.append((x, y))
    return points


def draw_mark(palette: Palette, size: int = SIZE) -> Image.Image:
    """The shield with the eye, trimmed to its outline, `size` px tall."""
    scale = size / 1150.0
    width = round(1000 * scale)
    image = Image.new("RGBA", (width, size), (0, 0, 0, 0))
    outline = _scaled(_shield(), scale, 0, 0)

    # Two flat tones, split down the middle, clipped to the shield.
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).polygon(outline, fill=255)
    tones = Image.new("RGBA", image.size, palette.shield_left)
    ImageDraw.Draw(tones).rectangle((width / 2, 0, width, size), fill=palette.shield_right)
    image.paste(tones, (0, 0), mask)

    draw = ImageDraw.Draw(image)
    # A thin inner rim, as on a badge.
    rim_outer = _scaled(_shield(46), scale, 0, 0)
    rim_inner = _scaled(_shield(78), scale, 0, 0)
    rim = Image.new("L", image.size, 0)
    ImageDraw.Draw(rim).polygon(rim_outer, fill=255)
    ImageDraw.Draw(rim).polygon(rim_inner, fill=0)
    image.paste(Image.new("RGBA", image.size, palette.rim), (0, 0), rim)

    # The eye, with a camera lens for its iris.
    cx, cy = 500 * scale, 530 * scale
    draw.polygon(_eye(cx, cy, 340 * scale, 205 * scale), fill=palette.eye)
    # Iris, the lens barrel's ring, the dark lens.
    for radius, color in ((165, palette.iris), (128, palette.lens_ring), (108, palette.lens)):
        r = radius * scale
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=color)
    # The lens's glints: a large one up right, a small one down left.
    for gx, gy, gr in ((38, -40, 32), (-44, 46, 13)):
        x, y, r = cx + gx * scale, cy + gy * scale, gr * scale
        draw.ellipse((x - r, y - r, x + r, y + r), fill=palette.glint)
    return _trim(image)


def _trim(image: Image.Image) -> Image.Image:
    box = image.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    return image.crop(box) if box else image


def _fit_square(image: Image.Image, side: int) -> Image.Image:
    """Scale `image` so its longer side is `side` and centre it on a transparent square."""
    factor = side / max(image.size)
    scaled = image.resize(
        (max(1, round(image.width * factor)), max(1, round(image.height * factor))),
        Image.Resampling.LANCZOS,
    )
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.alpha_composite(scaled, ((side - scaled.width) // 2, (side - scaled.height) // 2))
    return square


def _font() -> Path | None:
    return next((path for path in FONTS if path.is_file()), None)


def _word(palette: Palette, font_path: Path, cap_height: int) -> Image.Image:
    """ "HomeSec" in two colours, trimmed, its capital letters `cap_height` px tall."""
    font = ImageFont.truetype(str(font_path), 1000)
    # The cap height of "H" at 1000 px decides the font size.
    h_box = font.getbbox("H")
    font = ImageFont.truetype(str(font_path), round(1000 * cap_height / (h_box[3] - h_box[1])))
    first, second = WORD
    width = round(font.getlength(first + second)) + cap_height
    image = Image.new("RGBA", (width, cap_height * 3), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.text((0, cap_height), first, font=font, fill=palette.word_home)
    draw.text((font.getlength(first), cap_height), second, font=font, fill=palette.word_sec)
    return _trim(image)


def draw_logo(palette: Palette, height: int, font_path: Path | None) -> Image.Image:
    """The mark with "HomeSec" to its right, `height` px tall, trimmed."""
    scale = 8  # drawn 8x larger, then scaled down
    mark = draw_mark(palette, height * scale)
    if font_path is None:
        return _fit_square(mark, height)
    word = _word(palette, font_path, round(height * scale * 0.38))
    gap = round(height * scale * 0.16)
    canvas = Image.new("RGBA", (mark.width + gap + word.width, mark.height), (0, 0, 0, 0))
    canvas.alpha_composite(mark, (0, 0))
    # The word's capitals centred on the eye (a little above the shield's middle).
    eye_y = round(mark.height * 530 / 1150)
    canvas.alpha_composite(word, (mark.width + gap, eye_y - word.height // 2))
    logo = _trim(canvas)
    width = round(logo.width * height / logo.height)
    return logo.resize((width, height), Image.Resampling.LANCZOS)


def _save(image: Image.Image, path: Path) -> None:
    # Fully transparent pixels carry no colour: smaller files, no halo in viewers.
    alpha = image.getchannel("A")
    clear = Image.new("RGBA", image.size, (0, 0, 0, 0))
    image = Image.composite(image, clear, alpha.point(lambda a: 255 if a else 0))
    image.save(path, "PNG", optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    font_path = _font()
    if font_path is None:
        print("DejaVu Sans Bold not found: the logo is the mark only", file=sys.stderr)

    for prefix, palette in (("", LIGHT), ("dark_", DARK)):
        mark = draw_mark(palette)
        for suffix, factor in (("", 1), ("@2x", 2)):
            _save(_fit_square(mark, ICON * factor), out / f"{prefix}icon{suffix}.png")
            logo = draw_logo(palette, LOGO_HEIGHT * factor, font_path)
            _save(logo, out / f"{prefix}logo{suffix}.png")
    for path in sorted(out.glob("*.png")):
        with Image.open(path) as image:
            print(
                f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
                f"{image.width}x{image.height}, {path.stat().st_size // 1024} KB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
