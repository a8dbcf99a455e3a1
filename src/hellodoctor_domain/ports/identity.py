"""Storage ports of sign-in: accounts, one-time secrets and refresh tokens."""

from __future__ import annotations

import abc
from datetime import datetime

from hellodoctor_domain.model.accounts import Account, OneTimeSecret, RefreshToken, SecretPurpose
from hellodoctor_domain.model.values import (
    EmailAddress,
    UserId,
)
from hellodoctor_domain.ports.repository import EntityRepository


class AccountRepository(EntityRepository[Account, UserId]):
    """Accounts. ``add`` and ``update`` raise ``AlreadyExists`` when the id (on ``add``) or
    the e-mail is taken (e-mails compare case-insensitively)."""

    def by_email(self, email: EmailAddress) -> Account | None:
        """The account with this e-mail (case-insensitive), if any."""
        return self._seen_if_any(self._by_email(email))

    @abc.abstractmethod
    def _by_email(self, email: EmailAddress) -> Account | None: ...


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
