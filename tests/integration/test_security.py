"""Least privilege and secrets: the account's reach, and passwords kept out of output."""

from __future__ import annotations

from pathlib import Path

import mysql.connector
import pytest

from localmysql import AppAccount
from tests import dbread
from tests.helpers import spark_submit

pytestmark = pytest.mark.integration


def test_application_account_reaches_its_own_schema_only(mysql_account: AppAccount) -> None:
    grants = [row[0] for row in dbread.query(mysql_account, "SHOW GRANTS")]
    assert all("ALL PRIVILEGES" not in grant and " *.* " not in grant.replace("USAGE ON *.*", "")
               for grant in grants), grants  # fmt: skip
    assert any(f"`{mysql_account.database}`.*" in grant for grant in grants)
    for statement in (
        "CREATE DATABASE another_schema",
        "SELECT * FROM mysql.user",
        f"DROP DATABASE `{mysql_account.database}`",
    ):
        with pytest.raises(mysql.connector.Error) as error:
            dbread.query(mysql_account, statement)
        assert error.value.errno in {1044, 1142, 1045}, statement


def test_wrong_password_is_one_clear_error_without_the_secret(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**app_env, "MYSQL_PASSWORD": "Wrong-Secret-4711"}
    result = spark_submit(
        env, "--input-dir", str(tmp_path), "--checkpoint-dir", str(tmp_path / "c")
    )
    assert result.returncode == 3, result.stdout[-3000:]
    assert "Access denied" in result.stdout
    assert "Wrong-Secret-4711" not in result.stdout
    assert "Traceback" not in result.stdout
