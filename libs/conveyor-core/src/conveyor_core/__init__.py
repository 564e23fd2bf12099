"""What Conveyor's API and worker share: configuration, logging, PostgreSQL,
the Redis stream that dispatches jobs, the task registry and the schema."""
