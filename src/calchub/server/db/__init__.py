"""Engine, tables and migrations. Repositories are the only users of the tables."""
