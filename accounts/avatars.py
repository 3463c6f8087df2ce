"""Avatar images: checked, re-encoded with Pillow, EXIF and other metadata dropped.

Nothing the user uploaded is stored as is: we decode the pixels, fix the
orientation, shrink to a square thumbnail and write a fresh JPEG, which
carries no EXIF (GPS, camera serials) and no polyglot payload.
"""

import io
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from PIL import Image, ImageOps, UnidentifiedImageError

from digis.errors import InvalidInput

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}


class AvatarInvalid(InvalidInput):
    code = "invalid_avatar"


def process_avatar(upload) -> ContentFile:
    """Validate an uploaded file and return the re-encoded JPEG to store."""
    size = getattr(upload, "size", None)
    if size is None or size > settings.ACCOUNTS_AVATAR_MAX_BYTES:
        raise AvatarInvalid(
            f"The image is larger than {settings.ACCOUNTS_AVATAR_MAX_BYTES // (1024 * 1024)} MiB.",
            fields={"avatar": ["File too large."]},
            code="avatar_too_large",
        )
    upload.seek(0)
    try:
        with Image.open(upload) as probe:
            image_format = probe.format
            width, height = probe.size
            if image_format not in ALLOWED_FORMATS:
                raise AvatarInvalid(
                    "Upload a JPEG, PNG, WebP or GIF image.",
                    fields={"avatar": ["Unsupported image type."]},
                    code="avatar_wrong_type",
                )
            # Refuse decompression bombs before decoding a single pixel.
            if width * height > settings.ACCOUNTS_AVATAR_MAX_PIXELS:
                raise AvatarInvalid("The image has too many pixels.", fields={"avatar": ["Image too large."]}, code="avatar_too_large")
            image = ImageOps.exif_transpose(probe)
            image.load()
    except AvatarInvalid:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise AvatarInvalid(
            "That file is not an image we can read.",
            fields={"avatar": ["Not a valid image."]},
            code="avatar_wrong_type",
        )

    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        image = background
    else:
        image = image.convert("RGB")
    side = settings.ACCOUNTS_AVATAR_SIZE_PX
    image = ImageOps.fit(image, (side, side), method=Image.Resampling.LANCZOS)

    out = io.BytesIO()
    # A new Image has no info dict: no exif=, no icc_profile=, nothing copied.
    clean = Image.new("RGB", image.size)
    clean.paste(image)
    clean.save(out, format="JPEG", quality=88, optimize=True)
    return ContentFile(out.getvalue(), name=f"{uuid.uuid4().hex}.jpg")
