"""The settings transcripts owns: `WhisperSettings`, the ``whisper`` section of the server's
config (`server.config.Config.whisper` is this model), and what the engine is built from.

One shape from the config file to the worker process: the server composes it into its
config, the runtime and the arq worker take it as it is, and `resolved` locates the model
(the packaged base model in the cache when ``model`` is empty) before it is pickled to the
Whisper worker process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from transcripts.model import default_cache_dir, resolve_model

__all__ = ["WhisperSettings"]


class WhisperSettings(BaseModel):
    """Whisper for the final transcript and the live captions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # A directory of a CTranslate2 Whisper model, or a model name an operator's machine can
    # download ("small", "large-v3"). Empty: the packaged base model, reassembled in the cache.
    model: str = ""
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(2, ge=1, le=64)
    beam_size: int = Field(5, ge=1, le=10)
    live_captions: bool = True
    # Seconds a caption phrase may wait for the caption worker before it is dropped (and the
    # page told "captions are behind"); see transcripts.captions.CaptionSettings.
    caption_max_wait: float = Field(6.0, ge=0.0, le=60.0)

    def resolved(self, data_dir: Path) -> WhisperSettings:
        """The same settings with ``model`` an existing directory or a known model name
        (`transcripts.model.resolve_model`; the packaged model is installed in
        ``data_dir``'s cache when needed)."""
        return self.model_copy(
            update={"model": resolve_model(self.model, default_cache_dir(data_dir))}
        )
