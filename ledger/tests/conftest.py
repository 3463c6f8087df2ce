import pytest


@pytest.fixture(params=["in_database", "python"], autouse=True)
def ledger_write_path(request, settings):
    """Every ledger test runs through both write paths: ledger_post() on
    PostgreSQL and the Python path (the only one on SQLite, where both
    parameters take it)."""
    settings.LEDGER_POST_IN_DATABASE = request.param == "in_database"
    return request.param
