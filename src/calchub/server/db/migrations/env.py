"""Alembic environment: the engine is handed in by ``calchub.server.db.migrate``.

On SQLite, batch mode rebuilds a table to change it (copy, drop, rename), and
dropping a table that other rows point at fails while foreign keys are
enforced. So they are switched off for the migration (outside any
transaction, where SQLite honours the pragma), checked with
``PRAGMA foreign_key_check`` before the commit, and switched on again.
"""

from alembic import context
from sqlalchemy import text

from calchub.server.db.tables import Base

engine = context.config.attributes["engine"]
sqlite = engine.dialect.name == "sqlite"

with engine.connect() as connection:
    if sqlite:
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.execute(text("PRAGMA foreign_key_check")).all()
                if broken:
                    raise RuntimeError(f"the migration left rows that point nowhere: {broken[:5]}")
        connection.commit()
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
