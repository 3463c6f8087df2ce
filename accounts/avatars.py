"""Avatar images: checked, re-encoded with Pillow, EXIF and other metadata dropped.

Nothing the user uploaded is stored as is: we decode the pixels, fix the
orientation, shrink (avatars: to a square thumbnail) and write a fresh JPEG,
which carries no EXIF (GPS, camera serials) and no polyglot payload.
``reencode_image`` is the pipeline; messaging's images go through it too.
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
    return reencode_image(upload, field="avatar", code_prefix="avatar", square_px=settings.ACCOUNTS_AVATAR_SIZE_PX)


def reencode_image(
    upload,
    *,
    field: str,
    code_prefix: str,
    square_px: int | None = None,
    max_side_px: int | None = None,
    max_bytes: int | None = None,
) -> ContentFile:
    """The one pipeline for user images (avatars, message images): checked, decoded,
    oriented, resized and written as a fresh JPEG without any metadata.

    ``square_px`` crops to a centred square of that side (avatars);
    ``max_side_px`` only shrinks, keeping the aspect ratio. Errors are
    InvalidInput with codes ``<code_prefix>_too_large`` / ``<code_prefix>_wrong_type``
    on ``field``.
    """
    limit = max_bytes or settings.ACCOUNTS_AVATAR_MAX_BYTES
    size = getattr(upload, "size", None)
    if size is None or size > limit:
        raise AvatarInvalid(
            f"The image is larger than {limit // (1024 * 1024)} MiB.",
            fields={field: ["File too large."]},
            code=f"{code_prefix}_too_large",
        )
    upload.seek(0)
    try:
        with Image.open(upload) as probe:
            image_format = probe.format
            width, height = probe.size
            if image_format not in ALLOWED_FORMATS:
                raise AvatarInvalid(
                    "Upload a JPEG, PNG, WebP or GIF image.",
                    fields={field: ["Unsupported image type."]},
                    code=f"{code_prefix}_wrong_type",
                )
            # Refuse decompression bombs before decoding a single pixel.
            if width * height > settings.ACCOUNTS_AVATAR_MAX_PIXELS:
                raise AvatarInvalid("The image has too many pixels.", fields={field: ["Image too large."]}, code=f"{code_prefix}_too_large")
            image = ImageOps.exif_transpose(probe)
            image.load()
    except AvatarInvalid:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise AvatarInvalid(
            "That file is not an image we can read.",
            fields={field: ["Not a valid image."]},
            code=f"{code_prefix}_wrong_type",
        )

    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        image = background
    else:
        image = image.convert("RGB")
    if square_px:
        image = ImageOps.fit(image, (square_px, square_px), method=Image.Resampling.LANCZOS)
    elif max_side_px and max(image.size) > max_side_px:
        image.thumbnail((max_side_px, max_side_px), Image.Resampling.LANCZOS)

    out = io.BytesIO()
    # A new Image has no info dict: no exif=, no icc_profile=, nothing copied.
    clean = Image.new("RGB", image.size)
    clean.paste(image)
    clean.save(out, format="JPEG", quality=88, optimize=True)
    return ContentFile(out.getvalue(), name=f"{uuid.uuid4().hex}.jpg")
