"""The ``calchub`` command: one module per command group, speaking only through the client."""
