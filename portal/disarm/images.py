"""Images (in the converter): decoded by Pillow and sent to the worker as raw pixels only.

The worker encodes them again as the same kind (portal.disarm.assembly), so nothing of the
original file but its pixels goes into the copy: no EXIF (a photo's GPS position among it),
XMP, IPTC, comments or PNG text chunks. A JPEG's EXIF orientation is applied to the pixels
first, so the photo still shows the right way up. An embedded colour profile is used to convert
the pixels to sRGB and is then dropped (where it cannot be used, it is simply dropped). An
animated PNG keeps its first frame. The pixels are sent as grey or RGB, with an alpha channel
where the image has transparency (it is part of the picture); a palette becomes RGB and 16-bit
grey becomes 8-bit.

The image's size is read from its header before any pixel is decoded, and an image whose pixels
would not fit in the converter's memory limit is refused ("memory"): a decompression bomb (a small
file that decodes to gigabytes) is turned away without being decoded.
"""

from __future__ import annotations

import io

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from portal.disarm.limits import pixel_limit
from portal.disarm.outcome import MEMORY, UNREADABLE, CouldNotMakeSafe
from portal.disarm.protocol import Answer
from portal.settings import DisarmSettings

_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}
_SIXTEEN_BIT = ("I", "I;16", "I;16B", "I;16L")


def send_image(plaintext: bytes, media_type: str, settings: DisarmSettings, answer: Answer) -> None:
    kind = _FORMATS[media_type]
    # The limit is checked below, from the header, before decoding; Pillow's own check is off.
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(io.BytesIO(plaintext), formats=[kind]) as image:
            if image.width * image.height > pixel_limit(settings):
                raise CouldNotMakeSafe(MEMORY)
            image.load()
            pixels = _pixels(image, kind)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise CouldNotMakeSafe(UNREADABLE) from None
    answer.image(pixels)


def _pixels(image: Image.Image, kind: str) -> Image.Image:
    """The image's pixels as they are seen: upright, in sRGB, in one of the protocol's modes."""
    if kind == "JPEG":
        image = ImageOps.exif_transpose(image)
    image = _in_srgb(image)
    transparent = "A" in image.getbands() or "transparency" in image.info
    if image.mode in _SIXTEEN_BIT:
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    grey = Image.getmodebase(image.mode) == "L"
    return image.convert(("L" if grey else "RGB") + ("A" if transparent else ""))


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
