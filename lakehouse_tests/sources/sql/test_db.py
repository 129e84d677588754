"""Connections to a source database: a missing, empty, locked or unreachable one is one line
naming the source and the database (never its password); reads roll back, writes commit."""

import socket
import sqlite3
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from lakehouse.sources.sql.db import (
    MissingDatabase,
    MissingFile,
    MissingTable,
    SourceError,
    connect,
    engine,
)
from lakehouse_tests.sources.sql.conftest import MARIADB_ADMIN_URL


def test_missing_sqlite_file_is_reported_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "shop.sqlite"
    url = f"sqlite:///{path}"
    with pytest.raises(MissingFile) as from_engine:
        engine(url, "shop")
    with pytest.raises(MissingFile) as from_connect, connect(url, "shop"):
        pass
    for err in (from_engine, from_connect):
        assert str(err.value) == f"source shop: database file {path} does not exist"
    assert not path.parent.exists()


def test_create_makes_the_file_and_a_write_commits_where_a_read_does_not(tmp_path: Path) -> None:
    path = tmp_path / "new" / "shop.sqlite"
    url = f"sqlite:///{path}"
    with connect(url, "shop", write=True, create=True) as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    with connect(url, "shop") as conn:
        conn.execute(sa.text("INSERT INTO t VALUES (2)"))  # not committed: rolled back
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_a_missing_table_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    sqlite3.connect(path).close()  # an empty database file
    with pytest.raises(MissingTable) as err, connect(f"sqlite:///{path}", "shop") as conn:
        conn.execute(sa.text("SELECT * FROM orders"))
    assert str(err.value) == f"source shop: database {path} lacks a table (no such table: orders)"


def test_locked_sqlite_database_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "shop.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with (
            pytest.raises(SourceError) as err,
            connect(f"sqlite:///{path}", "shop") as conn,
        ):
            conn.execute(sa.text("SELECT count(*) FROM t"))
        assert time.monotonic() - started < 10
        assert str(err.value) == (
            f"source shop: database {path} is locked by another process (waited 5 s); "
            "retry when it has finished"
        )
    finally:
        holder.rollback()
        holder.close()


def test_unreachable_postgresql_is_reported_without_password() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://postgres:Sup3rS3cret@127.0.0.1:{port}/test"
    with pytest.raises(SourceError) as err, connect(url, "crm"):
        pass
    message = str(err.value)
    assert message.startswith(
        f"source crm: cannot read postgresql+psycopg://postgres:***@127.0.0.1:{port}/test ("
    )
    assert "Sup3rS3cret" not in message and "\n" not in message


def test_a_database_missing_on_its_server_is_reported(pg_url: str) -> None:
    absent = f"lakehouse_absent_{uuid.uuid4().hex[:12]}"
    urls = (
        sa.make_url(pg_url).set(database=absent).render_as_string(hide_password=False),
        f"{MARIADB_ADMIN_URL}{absent}",
    )
    for url in urls:
        with pytest.raises(MissingDatabase) as err, connect(url, "crm"):
            pass
        name = sa.make_url(url).render_as_string(hide_password=True)
        assert str(err.value).startswith(f"source crm: database {name} does not exist (")
        assert absent in str(err.value) and "\n" not in str(err.value)
