"""SQLite writes -wal and -shm files (and a -journal) beside the database while the app runs: none may
end up in a commit."""

from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PATTERNS = [
    line.strip() for line in (ROOT / ".gitignore").read_text().splitlines() if line.strip() and not line.startswith("#")
]


@pytest.mark.parametrize(
    "name", ["db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm", "db.sqlite3-journal", "ci-test.sqlite3-wal"]
)
def test_sqlite_files_are_ignored(name):
    assert any(fnmatch(name, pattern) for pattern in PATTERNS), name
