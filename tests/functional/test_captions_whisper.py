"""Live captions as the server makes them, with the real Whisper base model: the caption
worker process of `transcripts.runtime.caption_service` (the product's `CaptionSettings`),
Silero VAD, a short espeak-ng file fed as a live tap does (20 ms chunks, paced by the
clock). The first phrase is long enough to grow: its line gets interims, then its final."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from transcripts_support import HAVE_ESPEAK, phrases_with_pauses

from transcripts.caption_lines import CaptionLine, CaptionMessage, CaptionsBehind
from transcripts.captions import caption_prompt
from transcripts.engine import WhisperSettings
from transcripts.model import resolve_model
from transcripts.runtime import caption_service

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
pytestmark = [pytest.mark.whisper,
              pytest.mark.skipif(not HAVE_ESPEAK and not IN_CI, reason="needs espeak-ng")]

LONG = ("Les jeux vidéo en ligne permettent de discuter avec des inconnus, et votre enfant "
        "doit savoir à qui il parle")
SHORT = "Le téléphone reste hors de la chambre."


async def test_a_long_phrase_grows_on_one_line_then_a_new_line(tmp_path: Path) -> None:
    pcm, ends = phrases_with_pauses([LONG, SHORT], tmp_path)
    settings = WhisperSettings(model=resolve_model(os.environ["CAUSERIE_WHISPER__MODEL"],
                                                   tmp_path))
    messages: list[tuple[float, CaptionMessage]] = []

    async def emit(message: CaptionMessage) -> None:
        messages.append((time.perf_counter(), message))

    service, pool = await caption_service(settings, emit)
    try:
        service.configure_cafe(1, "fr", caption_prompt("Les écrans", "jeux vidéo, téléphone"))
        stream = service.open(1, "Dr Martin")
        t0 = time.perf_counter()
        for i in range(0, len(pcm), 320):
            delay = t0 + (i + 320) / 16000 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            stream.push(pcm[i:i + 320], 60 + i / 16000)
        stream.close()
        for _ in range(300):
            if service.idle() and sum(1 for _, m in messages
                                      if isinstance(m, CaptionLine) and m.final) >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await service.aclose()
        await pool.aclose()

    lines = [m for _, m in messages if isinstance(m, CaptionLine)]
    assert not [m for _, m in messages if isinstance(m, CaptionsBehind)]
    ids = list(dict.fromkeys(m.id for m in lines))
    first = [m for m in lines if m.id == ids[0]]
    print([(m.id, m.final, m.text) for m in lines])
    # The long phrase: interims on its line while it is spoken, then one final, last.
    assert len(first) >= 2 and not first[0].final, first
    assert [m.final for m in first].count(True) == 1 and first[-1].final
    assert first[0].start == first[-1].start and first[0].end < first[-1].end
    assert "jeux vidéo" in first[-1].text.lower(), first[-1]
    # The next phrase is a new line, in café time.
    assert len(ids) >= 2
    second = [m for m in lines if m.id == ids[-1]]
    assert second[-1].final and "téléphone" in second[-1].text.lower(), second
    assert all(m.start >= 60 for m in lines)
    # The final of the long phrase came before the short phrase was over.
    final_at = next(at for at, m in messages if m is first[-1])
    assert final_at - t0 < ends[1] + 10, (final_at - t0, ends)
    assert service.dropped == 0 and service.interims >= 1 and len(service.latencies) >= 2
