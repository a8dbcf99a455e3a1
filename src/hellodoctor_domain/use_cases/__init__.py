"""Use cases: what a caller can ask of HelloDoctor, each in one unit of work, authorised here."""
