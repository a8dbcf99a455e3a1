"""Accounts, one-time secrets and refresh tokens in memory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from attrs import evolve

from hellodoctor_adapters.memory.store import _Journalled
from hellodoctor_domain.errors import (
    AlreadyExists,
    ConcurrencyError,
    NotFound,
)
from hellodoctor_domain.model.accounts import Account, OneTimeSecret, RefreshToken, SecretPurpose
from hellodoctor_domain.model.values import (
    EmailAddress,
    UserId,
)
from hellodoctor_domain.ports.identity import (
    AccountRepository,
    OneTimeSecretRepository,
    RefreshTokenRepository,
)


class InMemoryAccountRepository(_Journalled, AccountRepository):
    def _add(self, account: Account) -> None:
        accounts = self._store.accounts
        if account.id in accounts or self._by_email(account.email) is not None:
            raise AlreadyExists("that account or e-mail address exists")
        self._put(accounts, account.id, evolve(account, version=1))

    def _get(self, account_id: UserId) -> Account:
        try:
            return evolve(self._store.accounts[account_id])
        except KeyError:
            raise NotFound(f"no account {account_id}") from None

    def _by_email(self, email: EmailAddress) -> Account | None:
        for account in self._store.accounts.values():
            if account.email.lookup_key == email.lookup_key:
                return evolve(account)
        return None

    def _update(self, account: Account) -> None:
        stored = self._store.accounts.get(account.id)
        if stored is None:
            raise NotFound(f"no account {account.id}")
        if stored.version != account.version:
            raise ConcurrencyError(f"account {account.id} changed since it was read")
        other = self._by_email(account.email)
        if other is not None and other.id != account.id:
            raise AlreadyExists("that e-mail address has an account")
        self._put(self._store.accounts, account.id, evolve(account, version=account.version + 1))


class InMemoryOneTimeSecretRepository(_Journalled, OneTimeSecretRepository):
    def add(self, secret: OneTimeSecret) -> None:
        if secret.id in self._store.one_time_secrets:
            raise AlreadyExists(f"secret {secret.id} exists")
        secret.version = 1
        self._put(self._store.one_time_secrets, secret.id, evolve(secret))

    def get(self, secret_id: str) -> OneTimeSecret:
        try:
            return evolve(self._store.one_time_secrets[secret_id])
        except KeyError:
            raise NotFound("no such secret") from None

    def latest(self, account_id: UserId, purpose: SecretPurpose) -> OneTimeSecret | None:
        mine = [
            s
            for s in self._store.one_time_secrets.values()
            if s.account_id == account_id and s.purpose is purpose
        ]
        return evolve(max(mine, key=lambda s: (s.created_at, s.id))) if mine else None

    def update(self, secret: OneTimeSecret) -> None:
        stored = self._store.one_time_secrets.get(secret.id)
        if stored is None:
            raise NotFound("no such secret")
        if stored.version != secret.version:
            raise ConcurrencyError("the secret changed since it was read")
        secret.version += 1
        self._put(self._store.one_time_secrets, secret.id, evolve(secret))


class InMemoryRefreshTokenRepository(_Journalled, RefreshTokenRepository):
    def add(self, token: RefreshToken) -> None:
        if token.id in self._store.refresh_tokens:
            raise AlreadyExists("token exists")
        token.version = 1
        self._put(self._store.refresh_tokens, token.id, evolve(token))

    def get(self, token_id: str) -> RefreshToken:
        try:
            return evolve(self._store.refresh_tokens[token_id])
        except KeyError:
            raise NotFound("no such token") from None

    def update(self, token: RefreshToken) -> None:
        stored = self._store.refresh_tokens.get(token.id)
        if stored is None:
            raise NotFound("no such token")
        if stored.version != token.version:
            raise ConcurrencyError("the token changed since it was read")
        token.version += 1
        self._put(self._store.refresh_tokens, token.id, evolve(token))

    def _revoke(self, keep: Callable[[RefreshToken], bool], at: datetime) -> None:
        for token in list(self._store.refresh_tokens.values()):
            if keep(token) and token.revoked_at is None:
                revoked = evolve(token, revoked_at=at, version=token.version + 1)
                self._put(self._store.refresh_tokens, token.id, revoked)

    def revoke_family(self, family_id: str, at: datetime) -> None:
        self._revoke(lambda token: token.family_id == family_id, at)

    def revoke_account(self, account_id: UserId, at: datetime) -> None:
        self._revoke(lambda token: token.account_id == account_id, at)
