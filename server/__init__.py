"""The HTTP edge of Causerie: app factory, config, CLI, pages, auth, database wiring."""
