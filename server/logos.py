"""Association logos: an upload is checked (at most `LOGO_MAX` bytes, a PNG, JPEG, GIF or
WebP image by its own bytes, whatever its name or declared type says), kept under the data
directory's `logos/` with a random name, and served with headers that let it be nothing but
an image (its sniffed type, `nosniff`, a sandboxing CSP). SVG is refused: it can carry
script."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from aiohttp import BodyPartReader, web

from sessions.errors import InvalidInput, NotFound

LOGO_MAX = 1024 * 1024  # 1 MB
CHUNK = 64 * 1024
# magic bytes -> (extension, content type)
_SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "png", "image/png"),
    (b"\xff\xd8\xff", 0, "jpg", "image/jpeg"),
    (b"GIF87a", 0, "gif", "image/gif"),
    (b"GIF89a", 0, "gif", "image/gif"),
    (b"WEBP", 8, "webp", "image/webp"),
)
TYPES = {content_type for _, _, _, content_type in _SIGNATURES}


def sniff(data: bytes) -> tuple[str, str]:
    """(extension, content type) of an image, from its first bytes; InvalidInput else."""
    for magic, at, extension, content_type in _SIGNATURES:
        if data[at:at + len(magic)] == magic and (extension != "webp"
                                                  or data[:4] == b"RIFF"):
            return extension, content_type
    raise InvalidInput("The logo must be a PNG, JPEG, GIF or WebP image.")


async def read_upload(part: BodyPartReader) -> bytes:
    """The file part's bytes, refused past `LOGO_MAX` (read no further than that)."""
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data.extend(chunk)
        if len(data) > LOGO_MAX:
            raise InvalidInput("The logo is too large (at most 1 MB).")
    if not data:
        raise InvalidInput("Choose an image file for the logo.")
    return bytes(data)


def logo_dir(data_dir: Path) -> Path:
    return data_dir / "logos"


def store(data_dir: Path, data: bytes) -> tuple[str, str]:
    """Write a checked logo under a new random name: (file name, content type)."""
    extension, content_type = sniff(data)
    folder = logo_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(12)}.{extension}"
    temporary = folder / f".{name}.part"
    temporary.write_bytes(data)
    os.replace(temporary, folder / name)
    return name, content_type


def remove(data_dir: Path, name: str | None) -> None:
    if name and _safe_name(name):
        (logo_dir(data_dir) / name).unlink(missing_ok=True)


def _safe_name(name: str) -> bool:
    stem, _, extension = name.partition(".")
    return (len(stem) == 24 and all(c in "0123456789abcdef" for c in stem)
            and extension in {"png", "jpg", "gif", "webp"})


def response(data_dir: Path, name: str | None, content_type: str | None) -> web.Response:
    """The stored logo, as an image only."""
    if not name or not _safe_name(name) or content_type not in TYPES:
        raise NotFound("This association has no logo.")
    path = logo_dir(data_dir) / name
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        raise NotFound("This association has no logo.") from None
    return web.Response(body=body, content_type=content_type, headers={
        "Cache-Control": "public, max-age=300",
        "Content-Disposition": "inline",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cross-Origin-Resource-Policy": "same-origin",
    })
