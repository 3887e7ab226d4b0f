"""The ``behemoth`` command: one subcommand per pipeline stage."""
