"""The calchub server: FastAPI over SQLAlchemy. Needs the ``server`` extra."""
