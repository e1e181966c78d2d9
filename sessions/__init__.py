"""The Causerie domain: cafés, participants and roles, the permission table, the Q&A queue,
the stage and moderation. Pure modules here import no transport and no database driver;
`sessions.storage` and `sessions.service` are the only parts that do I/O."""
