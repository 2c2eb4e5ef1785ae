"""The database: engine, schema (models), migrations, encryption at rest, and units of work."""
