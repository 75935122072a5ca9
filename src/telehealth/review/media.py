"""Media checks: what a file is (from its bytes, never its name) and image re-encoding.

Pure functions over bytes; no storage, database or web imports. Images are decoded and written
again so that nothing but pixels survives: EXIF (including GPS), XMP, comments and trailing
data are dropped. Decoding is bounded by a pixel limit so a small file cannot expand into
gigabytes of memory.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from telehealth.errors import DomainError, ErrorCode
from telehealth.review.model import MediaKind

# Enough leading bytes to recognise every accepted format.
SNIFF_BYTES = 16

# Declared types (Upload-Metadata ``filetype``) a client may announce, each with the type its
# content must be found to be: a declared type the bytes contradict is refused.
DECLARED_TYPES: dict[str, str] = {
    "image/jpeg": "image/jpeg",
    "image/png": "image/png",
    "application/pdf": "application/pdf",
    "application/fhir+json": "application/fhir+json",
    "application/json": "application/fhir+json",
    "video/mp4": "video/mp4",
}
# The kind of each type :func:`sniff` recognises.
KINDS: dict[str, MediaKind] = {
    "image/jpeg": MediaKind.IMAGE,
    "image/png": MediaKind.IMAGE,
    "application/pdf": MediaKind.DOCUMENT,
    "application/fhir+json": MediaKind.OBSERVATION,
    "video/mp4": MediaKind.VIDEO,
}
OBSERVATION_STATUSES = frozenset(
    {
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    }
)


@dataclass(frozen=True, slots=True)
class Sniffed:
    kind: MediaKind
    content_type: str


def unsupported(message: str = "this type of file is not accepted") -> DomainError:
    return DomainError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, message)


def invalid(message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message)


def declared_type(filetype: str | None) -> str | None:
    """The type a declared type stands for; an unknown declared type is refused up front."""
    if not filetype:
        return None
    content_type = DECLARED_TYPES.get(filetype.split(";", 1)[0].strip().lower())
    if content_type is None:
        raise unsupported()
    return content_type


def sniff(head: bytes) -> Sniffed:
    """Identify a file from its first bytes. Anything unrecognised is refused."""
    content_type = _sniffed_type(head)
    return Sniffed(KINDS[content_type], content_type)


def _sniffed_type(head: bytes) -> str:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "video/mp4"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return "application/fhir+json"
    raise unsupported()


def check_declared(sniffed: Sniffed, declared_type: str | None, declared_kind: str | None) -> None:
    """Refuses content that contradicts its declared type (a JPEG declared as a PNG) or, for an
    upload opened before the declared type itself was kept, its declared kind."""
    if (declared_type is not None and declared_type != sniffed.content_type) or (
        declared_kind is not None and declared_kind != sniffed.kind.value
    ):
        raise unsupported("the content does not match the declared file type")


def reencode_image(data: bytes, content_type: str, max_pixels: int) -> bytes:
    """Decode and re-encode an image in its own format; metadata does not survive."""
    fmt = {"image/jpeg": "JPEG", "image/png": "PNG"}[content_type]
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns first; treat its warning as the refusal it is.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise invalid("the image has too many pixels")
                image.load()
                upright = ImageOps.exif_transpose(image)
                return _encode(upright, fmt)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise invalid("the image has too many pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise invalid("the image could not be decoded") from None


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        image.save(out, format="JPEG", quality=90, optimize=True)
    else:
        if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
            image = image.convert("RGBA")
        image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def check_observation(data: bytes) -> None:
    """A FHIR R4 Observation resource: JSON object with resourceType, status and code."""
    try:
        doc: Any = json.loads(data.decode("utf-8-sig"), parse_constant=_not_json)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise invalid("the lab result is not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("resourceType") != "Observation":
        raise invalid("the lab result must be a FHIR Observation resource")
    if doc.get("status") not in OBSERVATION_STATUSES:
        raise invalid("the Observation needs a valid status")
    code = doc.get("code")
    if not isinstance(code, dict) or not (code.get("coding") or code.get("text")):
        raise invalid("the Observation needs a code")


def _not_json(constant: str) -> None:
    # Python's parser accepts NaN and (-)Infinity, which JSON (RFC 8259) does not have: a
    # result carrying one is not a value anyone can chart or compare.
    raise ValueError(f"{constant} is not a JSON number")
