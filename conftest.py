# Shared pytest fixtures: real PostgreSQL and Redis containers, and the
# services as processes. See tests/support/.
pytest_plugins = ["tests.support.fixtures"]
