"""Every table of Causerie, on one MetaData, so Alembic sees one schema.

Timestamps are timezone-aware UTC. Migrations live in server/migrations; a change here
needs a new revision there (`alembic revision --autogenerate` then review).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = sa.DateTime(timezone=True)

# An association (organisation): its cafés, organisers and public profile. The logo is a
# file under the data directory (`logos/`), its type sniffed from its bytes at upload.
associations = sa.Table(
    "associations", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("slug", sa.String(60), nullable=False, unique=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("website", sa.String(300), nullable=False, server_default=""),
    sa.Column("colour", sa.String(7), nullable=False, server_default="#2f6f5e"),
    # one help number a line: the defaults of its cafés' safeguarding banner
    sa.Column("help_numbers", sa.Text, nullable=False, server_default=""),
    sa.Column("logo", sa.String(100)),
    sa.Column("logo_type", sa.String(20)),
    sa.Column("created_at", TS, nullable=False),
)

organisers = sa.Table(
    "organisers", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("display_name", sa.String(80), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    # The association this organiser acts for (None: a platform administrator only).
    sa.Column("association_id", sa.Integer,
              sa.ForeignKey("associations.id", ondelete="CASCADE"), index=True),
    sa.Column("platform_admin", sa.Boolean, nullable=False, server_default=sa.false()),
)

# A signed, expiring link by which an association's organiser (or the platform
# administrator, for the first one) invites another organiser; used once.
organiser_invitations = sa.Table(
    "organiser_invitations", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("association_id", sa.Integer,
              sa.ForeignKey("associations.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("nonce", sa.String(64), nullable=False, unique=True),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("organisers.id", ondelete="SET NULL")),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("used_at", TS),
    sa.Column("revoked_at", TS),
    sa.Column("created_at", TS, nullable=False),
)

# An organiser's logged-in browser: the session cookie names one row (by the SHA-256 of its
# random id); logout deletes it, a password change deletes all of the organiser's.
login_sessions = sa.Table(
    "login_sessions", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("organiser_id", sa.Integer,
              sa.ForeignKey("organisers.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False, index=True),
)

cafes = sa.Table(
    "cafes", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("slug", sa.String(80), nullable=False, unique=True),
    sa.Column("title", sa.String(160), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("theme", sa.String(40), nullable=False, index=True),
    sa.Column("language", sa.String(8), nullable=False, server_default="fr"),
    sa.Column("starts_at", TS, nullable=False, index=True),
    sa.Column("duration_minutes", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="scheduled"),
    sa.Column("transcript_published", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("glossary", sa.Text, nullable=False, server_default=""),
    sa.Column("opened_at", TS),
    sa.Column("ended_at", TS),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("organisers.id", ondelete="SET NULL")),
    sa.Column("created_at", TS, nullable=False),
    # Raw recordings (the parts) are deleted this many days after the café ends; the
    # published transcript and its replay stay until withdrawn (transcripts.retention).
    sa.Column("recording_retention_days", sa.Integer, nullable=False, server_default="30"),
    sa.Column("recordings_deleted_at", TS),
    sa.Column("association_id", sa.Integer,
              sa.ForeignKey("associations.id", ondelete="RESTRICT"), nullable=False, index=True),
    # The most parents present at once while live (`sessions.attendance`): raised, never
    # lowered; NULL for a café live before it was recorded or with no parent yet.
    sa.Column("peak_parents", sa.Integer),
)

invitations = sa.Table(
    "invitations", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("nonce", sa.String(64), nullable=False, unique=True),
    sa.Column("expires_at", TS, nullable=False),
    sa.Column("revoked_at", TS),
    sa.Column("created_at", TS, nullable=False),
)

participants = sa.Table(
    "participants", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("pseudonym", sa.String(40), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    # A random key the browser keeps in localStorage: the same browser rejoins as the same
    # participant, and a ban holds against it.
    sa.Column("browser_key", sa.String(64), nullable=False),
    sa.Column("invitation_id", sa.Integer, sa.ForeignKey("invitations.id", ondelete="SET NULL")),
    sa.Column("joined_at", TS, nullable=False),
    sa.UniqueConstraint("cafe_id", "browser_key", name="uq_participants_cafe_browser"),
)

bans = sa.Table(
    "bans", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("browser_key", sa.String(64)),
    sa.Column("invitation_id", sa.Integer, sa.ForeignKey("invitations.id", ondelete="CASCADE")),
    sa.Column("participant_id", sa.Integer, sa.ForeignKey("participants.id", ondelete="CASCADE")),
    sa.Column("created_at", TS, nullable=False),
)

# A moderator's short ban by Internet address: the address is kept only until `expires_at`
# (rows past it are deleted whenever bans are checked or added) and never logged.
address_bans = sa.Table(
    "address_bans", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("address", sa.String(64), nullable=False),
    sa.Column("participant_id", sa.Integer,
              sa.ForeignKey("participants.id", ondelete="SET NULL")),
    sa.Column("expires_at", TS, nullable=False, index=True),
    sa.Column("created_at", TS, nullable=False),
)

# A café's RTMP(S) simulcast destinations (`sessions.destinations`): the stream key sealed
# (Fernet, `server.simulcast`), its last 4 characters to recognise it.
rtmp_destinations = sa.Table(
    "rtmp_destinations", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("label", sa.String(60), nullable=False),
    sa.Column("url", sa.String(300), nullable=False),
    sa.Column("key_sealed", sa.Text, nullable=False),
    sa.Column("key_last4", sa.String(4), nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

questions = sa.Table(
    "questions", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("author_id", sa.Integer, sa.ForeignKey("participants.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("original_text", sa.Text, nullable=False),
    sa.Column("anonymous", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reject_reason", sa.Text),
    sa.Column("merged_into", sa.Integer, sa.ForeignKey("questions.id", ondelete="SET NULL")),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Column("answering_at", TS),
    sa.Column("answered_at", TS),
    # The watched words it matched ({"action": "hold"|"flag", "terms": [...]}), for moderators.
    sa.Column("watch", sa.JSON),
)

votes = sa.Table(
    "votes", metadata,
    sa.Column("question_id", sa.Integer, sa.ForeignKey("questions.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("participant_id", sa.Integer, sa.ForeignKey("participants.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("created_at", TS, nullable=False),
)

chat_messages = sa.Table(
    "chat_messages", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("author_id", sa.Integer, sa.ForeignKey("participants.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()),
    # Held by a watched word: only moderators (and its author) see it until one releases it.
    sa.Column("held", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("watch", sa.JSON),
    sa.Column("created_at", TS, nullable=False),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"), index=True),
    sa.Column("actor", sa.String(120), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("target", sa.String(120), nullable=False, server_default=""),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("created_at", TS, nullable=False),
)

stage_state = sa.Table(
    # Raised hands and who is on stage, so a restart mid-café keeps the stage.
    "stage_entries", metadata,
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("participant_id", sa.Integer, sa.ForeignKey("participants.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # raised | on_stage
    sa.Column("muted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("since", TS, nullable=False),
)

recordings = sa.Table(
    "recordings", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("participant_id", sa.Integer, sa.ForeignKey("participants.id", ondelete="SET NULL")),
    sa.Column("speaker", sa.String(80), nullable=False),
    sa.Column("path", sa.String(500), nullable=False),
    # Seconds from the café's opening to the first sample of this file.
    sa.Column("offset_seconds", sa.Float, nullable=False),
    sa.Column("duration_seconds", sa.Float),
    sa.Column("status", sa.String(16), nullable=False),  # recording | closed | transcribed
    sa.Column("created_at", TS, nullable=False),
)

transcript_jobs = sa.Table(
    "transcript_jobs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("recording_id", sa.Integer, sa.ForeignKey("recordings.id", ondelete="CASCADE"),
              nullable=False, unique=True),
    sa.Column("status", sa.String(16), nullable=False),  # queued | running | done | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("progress", sa.Float, nullable=False, server_default="0"),
    sa.Column("error", sa.Text),
    sa.Column("updated_at", TS, nullable=False),
    # The part's check against its own audio (transcripts.parts.PartReport): seconds of
    # speech (voice activity) and seconds its text covers; `short` when too little text.
    sa.Column("speech_seconds", sa.Float),
    sa.Column("covered_seconds", sa.Float),
    sa.Column("short", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("retried", sa.Integer, nullable=False, server_default="0"),
    sa.Column("fallbacks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("repetitions_cut", sa.Integer, nullable=False, server_default="0"),
    sa.Column("degraded", sa.Integer, nullable=False, server_default="0"),
    sa.Column("work_seconds", sa.Float),
)

segments = sa.Table(
    "segments", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("recording_id", sa.Integer, sa.ForeignKey("recordings.id", ondelete="CASCADE")),
    sa.Column("start_seconds", sa.Float, nullable=False),
    sa.Column("end_seconds", sa.Float, nullable=False),
    sa.Column("speaker", sa.String(80), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("words", sa.JSON, nullable=False),
    # One recording's segments are replaced as a whole; this key makes a retried job
    # idempotent (a second insert of the same segment index fails instead of duplicating).
    sa.Column("seq", sa.Integer, nullable=False),
    # Optimistic locking of the review page: every edit checks and bumps it, so a second
    # reviewer editing the same segment gets a conflict, never a silent overwrite.
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.UniqueConstraint("recording_id", "seq", name="uq_segments_recording_seq"),
)

redactions = sa.Table(
    # A stretch of café time taken out of the transcript: its text became "[retiré]" and its
    # audio is silenced in the replay. Kept when its segment is joined or split (café time).
    "redactions", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("start_seconds", sa.Float, nullable=False),
    sa.Column("end_seconds", sa.Float, nullable=False),
    sa.Column("actor", sa.String(120), nullable=False),
    # True once the replay file has been rebuilt with this stretch silenced; until then the
    # café's audio is not served at all.
    sa.Column("applied", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", TS, nullable=False),
)

# A list of watched words (sessions.watchwords): one per café (its own terms) and one per
# association (its default list, edited by its organisers, which every café of the
# association applies under its own terms).
watch_lists = sa.Table(
    "watch_lists", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              unique=True),
    sa.Column("association_id", sa.Integer,
              sa.ForeignKey("associations.id", ondelete="CASCADE"), unique=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

# A parent's private report of a question, a chat message or a participant: the
# safeguarding queue that moderators and organisers see (sessions.reports). The reported
# text and pseudonym are copied at the time of the report (evidence, even once edited).
reports = sa.Table(
    "reports", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("reporter_id", sa.Integer, sa.ForeignKey("participants.id", ondelete="SET NULL")),
    sa.Column("kind", sa.String(16), nullable=False),  # question | chat | participant
    sa.Column("target_id", sa.Integer, nullable=False),
    sa.Column("target_participant_id", sa.Integer,
              sa.ForeignKey("participants.id", ondelete="SET NULL")),
    sa.Column("target_pseudonym", sa.String(40), nullable=False),
    sa.Column("excerpt", sa.Text, nullable=False, server_default=""),
    sa.Column("reason", sa.String(24), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False),  # open | resolved
    sa.Column("resolution", sa.String(16)),  # none | hide | remove | ban
    sa.Column("resolved_by", sa.String(120)),
    sa.Column("resolved_at", TS),
    sa.Column("created_at", TS, nullable=False),
)

cafe_help = sa.Table(
    # A café's help numbers (JSON of `sessions.help_settings.HelpSettings`; NULL: the
    # defaults) and its privacy notice per language (empty: the interface's default page).
    "cafe_help", metadata,
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("help_lines", sa.JSON),
    sa.Column("privacy_fr", sa.Text, nullable=False, server_default=""),
    sa.Column("privacy_en", sa.Text, nullable=False, server_default=""),
    sa.Column("updated_at", TS, nullable=False),
)

stage_leave_outs = sa.Table(
    # A parent who spoke on stage asked that their stage time be left out of the published
    # transcript; the organiser sees it in the review (and redacts their segments there).
    "stage_leave_outs", metadata,
    sa.Column("cafe_id", sa.Integer, sa.ForeignKey("cafes.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("participant_id", sa.Integer, sa.ForeignKey("participants.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("requested_at", TS, nullable=False),
    sa.Column("redacted_at", TS),
)
