"""The three databases the SQL source is tested on, each a fresh database dropped afterwards."""

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

MARIADB_ADMIN_URL = "mysql+pymysql://root@127.0.0.1:3306/"


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    admin = sa.create_engine(MARIADB_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"lakehouse_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    try:
        yield f"{MARIADB_ADMIN_URL}{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.sqlite'}"
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return request.getfixturevalue("mariadb_url")
