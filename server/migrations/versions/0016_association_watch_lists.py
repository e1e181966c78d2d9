"""association watch lists: the default list of watched words belongs to an association

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 03:50:00

Until now each organiser had a default list (`watch_lists.organiser_id`), which the cafés
they created applied. The default list is the association's now (`watch_lists
.association_id`), edited by its organisers and applied to its cafés.

Carrying the lists over, per association, no term lost: the lists of its organisers (in
order of organiser id) are merged into one. A term in several lists (matched as the matcher
does: case, accents and punctuation ignored) is kept once, with the strongest of its actions
(block, then hold, then flag): for a safeguarding list, the stricter reading. An organiser
of an association where another one had edited theirs, who had never edited theirs, was
applying the shipped French list to their cafés: that list joins the merge too, so that
their cafés lose no term. An association whose organisers never edited a list gets no row
(it applies the shipped list, as they did).

Downgrade: each organiser of an association gets a copy of its list.

The merge is frozen here (it does not import the application's parser, which may change).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

# sessions/watchwords_fr.py's list as shipped when this revision was written.
SHIPPED_FR = """\
# Données personnelles : un parent ne donne ni numéro, ni adresse, ni e-mail en public.
@telephone | hold
@email | hold
@adresse | hold
# Menaces et incitation à se faire du mal
suicide-toi | hold
suicide toi | hold
tue-toi | hold
va mourir | hold
va crever | hold
je vais te tuer | hold
on va te tuer | hold
je sais où tu habites | hold
on sait où tu habites | hold
on va te retrouver | hold
# Insultes et harcèlement
sale pute | hold
pute | hold
salope | hold
connasse | hold
connard | hold
grosse vache | hold
boloss | hold
pédé | hold
tapette | hold
gouine | hold
# Exploitation sexuelle
nudes | hold
envoie des photos | hold
photos de toi nue | hold
"""

ACTIONS = {
    "hold": "hold", "retenir": "hold", "retenu": "hold",
    "flag": "flag", "signaler": "flag", "marquer": "flag",
    "block": "block", "bloquer": "block", "refuser": "block",
}
STRENGTH = {"flag": 1, "hold": 2, "block": 3}
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'", "`": "'"})
_WORD = re.compile(r"[^\W_]+")

watch_lists = sa.table(
    "watch_lists", sa.column("id", sa.Integer), sa.column("cafe_id", sa.Integer),
    sa.column("organiser_id", sa.Integer), sa.column("association_id", sa.Integer),
    sa.column("body", sa.Text), sa.column("updated_at", TS))
organisers = sa.table("organisers", sa.column("id", sa.Integer),
                      sa.column("association_id", sa.Integer))


def _key(term: str) -> str:
    if term.startswith("@"):
        return term.casefold()
    folded = "".join(c for c in unicodedata.normalize("NFKD", term.translate(_APOSTROPHES))
                     if not unicodedata.combining(c)).casefold()
    return " ".join(_WORD.findall(folded)) or term.casefold()


def merge(bodies: list[str]) -> str:
    """One list from several, no term lost: each term once (its first spelling, its
    strongest action), the comments of each list kept once, in the order they come."""
    lines: list[str] = []  # a comment, or the key of a term
    terms: dict[str, tuple[str, str]] = {}  # key -> (term as written, action)
    comments: set[str] = set()
    for body in bodies:
        for raw in body.splitlines():
            line = raw.strip()
            if not line:
                continue
            if line.startswith("#"):
                if line not in comments:
                    comments.add(line)
                    lines.append(line)
                continue
            term, _, word = line.partition("|")
            term = " ".join(term.split())
            action = ACTIONS.get(word.strip().casefold(), "hold") if word.strip() else "hold"
            key = _key(term)
            if key not in terms:
                terms[key] = (term, action)
                lines.append("\0" + key)
            elif STRENGTH[action] > STRENGTH[terms[key][1]]:
                terms[key] = (terms[key][0], action)
    out = [f"{terms[line[1:]][0]} | {terms[line[1:]][1]}" if line.startswith("\0") else line
           for line in lines]
    return "\n".join(out) + "\n"


def upgrade() -> None:
    with op.batch_alter_table("watch_lists") as batch:
        batch.add_column(sa.Column("association_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_watch_lists_association_id_associations"),
                                 "associations", ["association_id"], ["id"],
                                 ondelete="CASCADE")
        batch.create_unique_constraint(op.f("uq_watch_lists_association_id"),
                                       ["association_id"])
    bind = op.get_bind()
    lists: dict[int, str] = {
        int(r.organiser_id): str(r.body) for r in bind.execute(
            sa.select(watch_lists.c.organiser_id, watch_lists.c.body).where(
                watch_lists.c.organiser_id.is_not(None)))}
    members: dict[int, list[int]] = {}
    for row in bind.execute(sa.select(organisers.c.id, organisers.c.association_id).where(
            organisers.c.association_id.is_not(None)).order_by(organisers.c.id)):
        members.setdefault(int(row.association_id), []).append(int(row.id))
    now = datetime.now(UTC)
    for association_id, ids in sorted(members.items()):
        edited = [lists[i] for i in ids if i in lists]
        if not edited:
            continue
        if len(edited) < len(ids):  # someone applied the shipped list: it joins the merge
            edited.append(SHIPPED_FR)
        bind.execute(watch_lists.insert().values(
            association_id=association_id, body=merge(edited), updated_at=now))
    bind.execute(watch_lists.delete().where(watch_lists.c.organiser_id.is_not(None)))
    with op.batch_alter_table("watch_lists") as batch:
        batch.drop_constraint(op.f("uq_watch_lists_organiser_id"), type_="unique")
        batch.drop_constraint(op.f("fk_watch_lists_organiser_id_organisers"),
                              type_="foreignkey")
        batch.drop_column("organiser_id")


def downgrade() -> None:
    with op.batch_alter_table("watch_lists") as batch:
        batch.add_column(sa.Column("organiser_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_watch_lists_organiser_id_organisers"),
                                 "organisers", ["organiser_id"], ["id"], ondelete="CASCADE")
        batch.create_unique_constraint(op.f("uq_watch_lists_organiser_id"), ["organiser_id"])
    bind = op.get_bind()
    now = datetime.now(UTC)
    for row in bind.execute(sa.select(watch_lists.c.association_id, watch_lists.c.body).where(
            watch_lists.c.association_id.is_not(None))).all():
        for organiser in bind.execute(sa.select(organisers.c.id).where(
                organisers.c.association_id == row.association_id)).all():
            bind.execute(watch_lists.insert().values(
                organiser_id=organiser.id, body=row.body, updated_at=now))
    bind.execute(watch_lists.delete().where(watch_lists.c.association_id.is_not(None)))
    with op.batch_alter_table("watch_lists") as batch:
        batch.drop_constraint(op.f("uq_watch_lists_association_id"), type_="unique")
        batch.drop_constraint(op.f("fk_watch_lists_association_id_associations"),
                              type_="foreignkey")
        batch.drop_column("association_id")
