"""JSON routers under /api/v1, one per resource. Routes own the transaction."""
