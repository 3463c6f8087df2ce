"""Generated avatars: initials on a diagonal gradient, saved through the storage API."""

import hashlib
import io

from django.core.files.base import ContentFile
from PIL import Image, ImageDraw, ImageFont

PALETTES = [
    ((124, 58, 237), (236, 72, 153)),
    ((37, 99, 235), (16, 185, 129)),
    ((234, 88, 12), (219, 39, 119)),
    ((5, 150, 105), (59, 130, 246)),
    ((190, 24, 93), (251, 191, 36)),
    ((79, 70, 229), (14, 165, 233)),
]


def _font(size: int):
    for name in ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "Arial Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def initials_avatar(*, name: str, seed: str, size: int = 256) -> ContentFile:
    """A PNG (as a ContentFile) with the name's initials on a gradient picked by ``seed``."""
    start, end = PALETTES[int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(PALETTES)]
    image = Image.new("RGB", (size, size))
    pixels = image.load()
    for y in range(size):
        for x in range(size):
            t = (x + y) / (2 * (size - 1))
            pixels[x, y] = tuple(round(a + (b - a) * t) for a, b in zip(start, end))
    initials = "".join(part[0] for part in name.split()[:2]).upper() or "?"
    draw = ImageDraw.Draw(image)
    font = _font(size * 2 // 5)
    draw.text((size / 2, size / 2), initials, fill=(255, 255, 255), font=font, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return ContentFile(buffer.getvalue(), name=f"{seed}.png")
