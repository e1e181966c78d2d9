"""The default list of watched words shipped with Causerie (French): harassment and hate
vocabulary, and the personal-data patterns, all held for a moderator. An association applies
it until one of its organisers edits the association's copy on the admin page; a café adds
its own terms to it. (Migration 0016 keeps a frozen copy of it, as it was then.)"""

from __future__ import annotations

DEFAULT_LIST_FR = """\
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
