"""The ``media`` block type: one image, its size and format, and a small thumbnail.

Pillow reads the image (imported on first use, not when the app starts). Only the listed
formats are decoded, whatever the file is called. Images larger than Pillow's
``Image.MAX_IMAGE_PIXELS`` are refused before they are decoded, so a small file that
unpacks to gigabytes (a decompression bomb) cannot exhaust memory. 16-bit and
floating-point images (common from microscopes and detectors) are scaled from their own
minimum and maximum to 8 bits for display.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from labvault.plugin import BlockFile, BlockType, ProcessingError, hookimpl

if TYPE_CHECKING:
    from PIL.Image import Image

#: Pillow's format names, by the extensions a media block accepts.
FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".gif": "GIF",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}
THUMBNAIL_SIZE = 256
#: Long side of the picture served as plot.png (browsers cannot show TIFF themselves).
PREVIEW_SIZE = 1024
_EXIF_ORIENTATION = 0x0112
_ROTATED_ORIENTATIONS = {5, 6, 7, 8}


def _open(file: BlockFile, content: BinaryIO, size: int) -> tuple[Image, dict[str, Any]]:
    """The image in ``file`` (read from ``content``) scaled to fit ``size`` pixels, as
    RGB(A) or L; and its facts.

    Every way a file can fail to decode becomes an :class:`ProcessingError`.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    formats = sorted(set(FORMATS.values()))
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; refuse both
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(content, formats=formats) as image:
                facts = _facts(image)
                image.thumbnail((size, size))  # JPEG: decodes at a reduced scale
                picture = ImageOps.exif_transpose(image)
                return _displayable(picture), facts
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ProcessingError(
            f"{file.name} is too large to open: more than {Image.MAX_IMAGE_PIXELS:,} pixels"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ProcessingError(
            f"{file.name} is not an image in a supported format "
            f"({', '.join(formats)}); is it empty or damaged?"
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ProcessingError(f"{file.name} is damaged or truncated: {exc}") from exc
    except Exception as exc:  # a decoder failing in an unforeseen way is still a bad file
        raise ProcessingError(f"{file.name} could not be read as an image: {exc}") from exc


def _facts(image: Image) -> dict[str, Any]:
    width, height = image.size
    if image.getexif().get(_EXIF_ORIENTATION) in _ROTATED_ORIENTATIONS:
        width, height = height, width  # report the size as the picture is shown
    return {
        "width": width,
        "height": height,
        "format": image.format,
        "mode": image.mode,
        "frames": getattr(image, "n_frames", 1),
    }


def _displayable(image: Image) -> Image:
    """``image`` in a mode a PNG for the browser can hold, stretched to 8 bits if needed."""
    if image.mode in {"RGB", "RGBA", "L", "LA"}:
        return image
    if image.mode.startswith(("I", "F")):  # 16/32-bit integer or float greyscale
        image = image.convert("F")
        low, high = cast(tuple[float, float], image.getextrema())
        scale = 255 / (high - low) if high > low else 0
        return image.point(lambda value: (value - low) * scale).convert("L")
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _png(image: Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Media(BlockType):
    name = "media"
    description = "An image (PNG, JPEG, GIF, WebP, TIFF, BMP) with its size and a thumbnail."
    accepted_file_extensions = tuple(FORMATS)
    max_files = 1

    def _image_file(self, files: list[BlockFile]) -> BlockFile | None:
        if not files:
            return None
        if len(files) > 1:
            raise ProcessingError(f"a media block shows one image, not {len(files)}")
        file = files[0]
        if file.extension not in FORMATS:
            raise ProcessingError(f"{file.name}: a media block shows {', '.join(FORMATS)} files")
        return file

    def compute(self, data: Mapping[str, Any], files: list[BlockFile]) -> dict[str, Any]:
        file = self._image_file(files)
        if file is None:  # nothing to show yet; the client attaches the image later
            return {}
        with self.host.files.open(file.sha256) as content:
            thumbnail, facts = _open(file, content, THUMBNAIL_SIZE)
        encoded = base64.b64encode(_png(thumbnail)).decode("ascii")
        return {**facts, "thumbnail": f"data:image/png;base64,{encoded}"}

    def render_png(
        self, data: Mapping[str, Any], computed: Mapping[str, Any], files: list[BlockFile]
    ) -> bytes | None:
        file = self._image_file(files)
        if file is None:
            return None
        with self.host.files.open(file.sha256) as content:
            return _png(_open(file, content, PREVIEW_SIZE)[0])


@hookimpl
def labvault_block_types() -> list[type[BlockType]]:
    return [Media]
