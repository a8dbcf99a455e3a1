"""Storage ports of sign-in: accounts, one-time secrets and refresh tokens."""

from __future__ import annotations

import abc
from datetime import datetime

from hellodoctor_domain.model.accounts import Account, OneTimeSecret, RefreshToken, SecretPurpose
from hellodoctor_domain.model.values import (
    EmailAddress,
    UserId,
)


class AccountRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, account: Account) -> None:
        """Store a new account (version 1); ``AlreadyExists`` if the id or e-mail is taken
        (e-mails compare case-insensitively)."""

    @abc.abstractmethod
    def get(self, account_id: UserId) -> Account:
        """The account, or ``NotFound``."""

    @abc.abstractmethod
    def by_email(self, email: EmailAddress) -> Account | None:
        """The account with this e-mail (case-insensitive), if any."""

    @abc.abstractmethod
    def update(self, account: Account) -> None:
        """Compare-and-set on ``account.version``, then bump it; ``ConcurrencyError`` if stale,
        ``AlreadyExists`` if the new e-mail is taken."""


class OneTimeSecretRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, secret: OneTimeSecret) -> None: ...

    @abc.abstractmethod
    def get(self, secret_id: str) -> OneTimeSecret:
        """The secret, or ``NotFound``."""

    @abc.abstractmethod
    def latest(self, account_id: UserId, purpose: SecretPurpose) -> OneTimeSecret | None:
        """The most recently issued secret of this purpose for the account."""

    @abc.abstractmethod
    def update(self, secret: OneTimeSecret) -> None:
        """Compare-and-set on ``secret.version``, then bump it."""


class RefreshTokenRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, token: RefreshToken) -> None: ...

    @abc.abstractmethod
    def get(self, token_id: str) -> RefreshToken:
        """The token, or ``NotFound``."""

    @abc.abstractmethod
    def update(self, token: RefreshToken) -> None:
        """Compare-and-set on ``token.version``, then bump it. Rotating a token is this
        compare-and-set, so two concurrent refreshes with one token cannot both succeed."""

    @abc.abstractmethod
    def revoke_family(self, family_id: str, at: datetime) -> None:
        """Mark every not yet revoked token of the family revoked at ``at``."""

    @abc.abstractmethod
    def revoke_account(self, account_id: UserId, at: datetime) -> None:
        """Mark every not yet revoked token of the account revoked at ``at``."""
