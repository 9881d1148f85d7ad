"""Images: decoded by Pillow and encoded again as the same kind, with no metadata.

Nothing of the original file but its pixels goes into the copy: no EXIF (a photo's GPS position
among it), XMP, IPTC, comments or PNG text chunks. A JPEG's EXIF orientation is applied to the
pixels first, so the photo still shows the right way up. An embedded colour profile is used to
convert the pixels to sRGB and is then dropped (where it cannot be used, it is simply dropped). An
animated PNG keeps its first frame. A PNG's transparency is kept: it is part of the picture.

The image's size is read from its header before any pixel is decoded, and an image whose pixels
would not fit in the converter's memory limit is refused ("memory"): a decompression bomb (a small
file that decodes to gigabytes) is turned away without being decoded.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from portal.disarm.outcome import MEMORY, UNREADABLE, CouldNotMakeSafe, SafeCopy
from portal.settings import DisarmSettings

PNG = "image/png"
JPEG = "image/jpeg"
_FORMATS = {PNG: "PNG", JPEG: "JPEG"}
# Room for the decoded image (up to 4 bytes a pixel) several times over while it is converted
# and encoded, within the converter's memory limit.
_BYTES_PER_PIXEL_BUDGET = 16
JPEG_QUALITY = 90


def pixel_limit(settings: DisarmSettings) -> int:
    return settings.memory_mb * 1024 * 1024 // _BYTES_PER_PIXEL_BUDGET


def rebuild_image(plaintext: bytes, media_type: str, settings: DisarmSettings) -> SafeCopy:
    kind = _FORMATS[media_type]
    # The limit is checked below, from the header, before decoding; Pillow's own check is off.
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(io.BytesIO(plaintext), formats=[kind]) as image:
            if image.width * image.height > pixel_limit(settings):
                raise CouldNotMakeSafe(MEMORY)
            image.load()
            content = _encode(image, kind)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise CouldNotMakeSafe(UNREADABLE) from None
    return SafeCopy(content=content, content_type=media_type, pages=None)


def _encode(image: Image.Image, kind: str) -> bytes:
    options: dict[str, Any] = {}
    if kind == "JPEG":
        image = ImageOps.exif_transpose(image)
        options["quality"] = JPEG_QUALITY
    elif "transparency" in image.info:
        options["transparency"] = image.info["transparency"]
    image = _in_srgb(image)
    # Pillow writes some of what it read back out (a PNG's colour profile, a JPEG's comment)
    # unless the image forgets it; the options above are all that is written besides pixels.
    image.info = {}
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def _in_srgb(image: Image.Image) -> Image.Image:
    profile = image.info.get("icc_profile")
    if not profile or image.mode not in ("RGB", "RGBA"):
        return image
    try:
        converted = ImageCms.profileToProfile(
            image,
            ImageCms.ImageCmsProfile(io.BytesIO(profile)),
            ImageCms.createProfile("sRGB"),
            outputMode=image.mode,
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image
    return converted if converted is not None else image
