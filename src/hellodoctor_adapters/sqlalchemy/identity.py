"""Identity repositories over SQLAlchemy Core: accounts, one-time secrets and refresh tokens.

The database decides every race: a taken id or e-mail is a unique-key violation
(``AlreadyExists``), a stale write a failed ``UPDATE ... WHERE version = :read``
(``rows.compare_and_set``), and a token family is revoked in one statement.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hellodoctor_adapters.crypto import FieldCipher, development_cipher
from hellodoctor_adapters.phi import email_lookups
from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.rows import (
    account_from,
    account_row,
    compare_and_set,
    first_row,
    secret_from,
    secret_row,
    token_from,
    token_row,
)
from hellodoctor_adapters.sqlalchemy.schema import accounts, one_time_secrets, refresh_tokens
from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.accounts import Account, OneTimeSecret, RefreshToken, SecretPurpose
from hellodoctor_domain.model.values import EmailAddress, UserId
from hellodoctor_domain.ports.identity import (
    AccountRepository,
    OneTimeSecretRepository,
    RefreshTokenRepository,
)


class SqlAccountRepository(AccountRepository):
    def __init__(self, connection: Connection, cipher: FieldCipher | None = None) -> None:
        super().__init__()
        self._connection = connection
        self._cipher = cipher or development_cipher()

    def _add(self, account: Account) -> None:
        row = account_row(account, self._cipher)
        with translated_errors():  # id or email_key taken: AlreadyExists
            self._connection.execute(sa.insert(accounts).values(**row, version=1))

    def _get(self, account_id: UserId) -> Account:
        row = first_row(
            self._connection, sa.select(accounts).where(accounts.c.id == account_id.value)
        )
        if row is None:
            raise NotFound(f"no account {account_id}")
        return account_from(row, self._cipher)

    def _by_email(self, email: EmailAddress) -> Account | None:
        # By the blind index (0014_phi); or, for a row no rewrap has reached yet, the plain
        # lookup key an older version stored.
        keys = email_lookups(self._cipher, email.lookup_key)
        row = first_row(
            self._connection, sa.select(accounts).where(accounts.c.email_key.in_(keys)).limit(1)
        )
        return None if row is None else account_from(row, self._cipher)

    def _update(self, account: Account) -> None:
        compare_and_set(
            self._connection,
            accounts,
            accounts.c.id == account.id.value,
            account.version,
            account_row(account, self._cipher),
            f"account {account.id}",
        )


class SqlOneTimeSecretRepository(OneTimeSecretRepository):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, secret: OneTimeSecret) -> None:
        with translated_errors():
            self._connection.execute(
                sa.insert(one_time_secrets).values(**secret_row(secret), version=1)
            )
        secret.version = 1

    def get(self, secret_id: str) -> OneTimeSecret:
        row = first_row(
            self._connection, sa.select(one_time_secrets).where(one_time_secrets.c.id == secret_id)
        )
        if row is None:
            raise NotFound("no such secret")
        return secret_from(row)

    def latest(self, account_id: UserId, purpose: SecretPurpose) -> OneTimeSecret | None:
        statement = (
            sa.select(one_time_secrets)
            .where(
                one_time_secrets.c.account_id == account_id.value,
                one_time_secrets.c.purpose == purpose.value,
            )
            .order_by(one_time_secrets.c.created_at.desc(), one_time_secrets.c.id.desc())
            .limit(1)
        )
        row = first_row(self._connection, statement)
        return None if row is None else secret_from(row)

    def update(self, secret: OneTimeSecret) -> None:
        compare_and_set(
            self._connection,
            one_time_secrets,
            one_time_secrets.c.id == secret.id,
            secret.version,
            secret_row(secret),
            "secret",
        )
        secret.version += 1


class SqlRefreshTokenRepository(RefreshTokenRepository):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, token: RefreshToken) -> None:
        with translated_errors():
            self._connection.execute(
                sa.insert(refresh_tokens).values(**token_row(token), version=1)
            )
        token.version = 1

    def get(self, token_id: str) -> RefreshToken:
        row = first_row(
            self._connection, sa.select(refresh_tokens).where(refresh_tokens.c.id == token_id)
        )
        if row is None:
            raise NotFound("no such token")
        return token_from(row)

    def update(self, token: RefreshToken) -> None:
        compare_and_set(
            self._connection,
            refresh_tokens,
            refresh_tokens.c.id == token.id,
            token.version,
            token_row(token),
            "token",
        )
        token.version += 1

    def _revoke(self, condition: sa.ColumnElement[bool], at: datetime) -> None:
        # One statement: concurrent rotations either finish first (and their new token is
        # revoked too, if committed) or find the version moved and fail their compare-and-set.
        with translated_errors():
            self._connection.execute(
                sa.update(refresh_tokens)
                .where(condition, refresh_tokens.c.revoked_at.is_(None))
                .values(revoked_at=at, version=refresh_tokens.c.version + 1)
            )

    def revoke_family(self, family_id: str, at: datetime) -> None:
        self._revoke(refresh_tokens.c.family_id == family_id, at)

    def revoke_account(self, account_id: UserId, at: datetime) -> None:
        self._revoke(refresh_tokens.c.account_id == account_id.value, at)
