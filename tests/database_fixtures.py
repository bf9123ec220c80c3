"""Fixtures for the tests that keep the database connection open, or drop it from outside."""

import psycopg
import pytest
from django.db import connection


@pytest.fixture
def persistent_connection(monkeypatch):
    """The test database connection kept open from request to request, as CONN_MAX_AGE does in production."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)
    connection.close()


@pytest.fixture
def maintenance_db():
    """An autocommit connection to the server's `postgres` database: from there a test can drop the
    test database's connections (a database cannot lock itself out)."""
    db = connection.settings_dict
    credentials = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "password": db["PASSWORD"]}
    with psycopg.connect(dbname="postgres", autocommit=True, **credentials) as admin:
        yield admin
