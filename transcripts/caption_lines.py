"""What the caption worker transcribes next, and which caption messages come out: pure.

`CaptionQueue` orders the windows of every speaker of the process: finals first, in the
order they closed; an interim only when no final waits, and only the latest one of a
phrase (a newer interim or the phrase's final replaces it). A final that waited longer than
`max_wait` is dropped: a caption that late is useless, and the page is told instead
(`CaptionsBehind`).

`CaptionLines` turns a transcription into the message for the phrase's line: interims
(`final: false`) then the final (`final: true`) of one line share an `id`, and the page
replaces that line's text. It never sends an interim after its line's final, nor the same
interim text twice.

Both take the time as an argument (monotonic seconds) and never read a clock.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, ClassVar

from transcripts.windowing import CaptionWindow


@dataclass(frozen=True)
class Pending:
    cafe_id: int
    stream: int  # the speaker's caption stream (unique in this process)
    window: CaptionWindow
    queued_at: float  # monotonic seconds

    @property
    def line_id(self) -> str:
        return f"{self.stream}-{self.window.line}"


@dataclass(frozen=True)
class CaptionLine:
    """The `captions` message: one line of one speaker, replaced as the phrase grows."""

    event: ClassVar[str] = "captions"
    cafe_id: int
    id: str
    speaker: str
    text: str
    start: float
    end: float
    final: bool

    def payload(self) -> dict[str, Any]:
        return {"id": self.id, "speaker": self.speaker, "text": self.text,
                "start": self.start, "end": self.end, "final": self.final}


@dataclass(frozen=True)
class CaptionsBehind:
    """The `captions.behind` message: a phrase was dropped, captions are late."""

    event: ClassVar[str] = "captions.behind"
    cafe_id: int
    id: str  # the dropped phrase's line (an interim of it may be on the page)
    speaker: str
    start: float
    end: float
    waited: float

    def payload(self) -> dict[str, Any]:
        return {"id": self.id, "speaker": self.speaker, "start": self.start,
                "end": self.end, "waited": round(self.waited, 1)}


CaptionMessage = CaptionLine | CaptionsBehind


class CaptionQueue:
    def __init__(self, max_wait: float) -> None:
        self.max_wait = max_wait
        self._finals: deque[Pending] = deque()
        self._interims: dict[int, Pending] = {}  # stream -> its latest interim

    def add(self, job: Pending) -> None:
        if job.window.final:
            self._finals.append(job)
            current = self._interims.get(job.stream)
            if current is not None and current.window.line <= job.window.line:
                del self._interims[job.stream]
        else:
            self._interims[job.stream] = job

    def take(self, now: float) -> tuple[Pending | None, list[Pending]]:
        """The next window to transcribe (None: nothing to do) and the finals dropped."""
        dropped: list[Pending] = []
        while self._finals:
            job = self._finals.popleft()
            if now - job.queued_at > self.max_wait:
                dropped.append(job)
                continue
            return job, dropped
        if self._interims:
            stream = min(self._interims, key=lambda s: self._interims[s].queued_at)
            return self._interims.pop(stream), dropped
        return None, dropped

    def __len__(self) -> int:
        return len(self._finals) + len(self._interims)


class CaptionLines:
    """The caption message for each transcribed window (growth and replacement)."""

    def __init__(self, remember: int = 256) -> None:
        # line id -> (text shown, final?); the oldest lines are forgotten.
        self._shown: OrderedDict[str, tuple[str, bool]] = OrderedDict()
        self._remember = remember

    def caption(self, job: Pending, text: str) -> CaptionLine | None:
        key = job.line_id
        shown, final = self._shown.get(key, ("", False))
        if final:
            return None  # an interim late after its final: the page already has the final
        if not job.window.final and (not text or text == shown):
            return None
        if job.window.final and not text:
            if not shown:
                return None
            text = shown  # nothing heard in the whole phrase: keep what was on the page
        self._remember_line(key, text, job.window.final)
        w = job.window
        return CaptionLine(job.cafe_id, key, w.speaker, text, w.start, w.end, w.final)

    def behind(self, job: Pending, now: float) -> CaptionsBehind:
        """The message for a dropped final; its line is closed (no interim after it)."""
        key = job.line_id
        self._remember_line(key, self._shown.get(key, ("", False))[0], True)
        w = job.window
        return CaptionsBehind(job.cafe_id, key, w.speaker, w.start, w.end,
                              now - job.queued_at)

    def _remember_line(self, key: str, text: str, final: bool) -> None:
        self._shown[key] = (text, final)
        self._shown.move_to_end(key)
        while len(self._shown) > self._remember:
            self._shown.popitem(last=False)
