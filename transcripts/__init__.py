"""Transcripts: model install, Whisper engine, live captions, recorder, final transcript jobs.

Search, exports and the transcript pages live beside these (search*.py, export*.py, web.py).
"""
