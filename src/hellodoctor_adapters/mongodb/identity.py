"""Identity repositories over MongoDB: accounts (one per case-folded e-mail address, decided by a
unique index), one-time secrets and refresh tokens. Writes are buffered until commit like every
other (``store.Profiles``); instants are truncated to the millisecond a BSON date holds in the
object the caller holds, so what is read back equals what was written.
"""

from __future__ import annotations

from datetime import datetime

from attrs import define, evolve
from pymongo import DESCENDING

from hellodoctor_adapters.mongodb.documents import (
    Document,
    floor_instants,
    floor_ms,
    from_document,
    to_document,
)
from hellodoctor_adapters.mongodb.store import (
    AGGREGATE_COLLECTIONS,
    MongoStore,
    Profiles,
    translated,
)
from hellodoctor_adapters.phi import ACCOUNTS, email_index, email_lookups, open_fields, seal_fields
from hellodoctor_domain.errors import AlreadyExists
from hellodoctor_domain.model.accounts import Account, OneTimeSecret, RefreshToken, SecretPurpose
from hellodoctor_domain.model.values import EmailAddress, UserId
from hellodoctor_domain.ports.identity import (
    AccountRepository,
    OneTimeSecretRepository,
    RefreshTokenRepository,
)


class MongoAccountRepository(Profiles[Account], AccountRepository):
    kind = Account
    label = "account"
    aggregate_type = "account"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, AGGREGATE_COLLECTIONS[self.aggregate_type])
        self._cipher = store.cipher

    def _document(self, value: Account) -> Document:
        # The unique index on the case-folded address's blind index decides "one account
        # per e-mail"; the address itself is sealed (docs/encryption.md).
        document = seal_fields(self._cipher, ACCOUNTS, value.id.value, to_document(value))
        document["_email_key"] = email_index(self._cipher, value.email.lookup_key)
        return document

    def _value(self, document: Document) -> Account:
        opened = open_fields(self._cipher, ACCOUNTS, str(document["_id"]), document)
        return from_document(opened, Account)

    @translated
    def _add(self, account: Account) -> None:
        floor_instants(account)
        if self._by_email(account.email) is not None:  # fails fast; the index decides at commit
            raise AlreadyExists("that account or e-mail address exists")
        self._stage_add(account)

    @translated
    def _get(self, account_id: UserId) -> Account:
        return self._find(account_id.value)

    @translated
    def _by_email(self, email: EmailAddress) -> Account | None:
        wanted = email.lookup_key
        for change in self.pending.values():
            if change.value.email.lookup_key == wanted:
                return evolve(change.value)
        # By the blind index; or, for a document no rewrap has reached yet, the plain key.
        keys = email_lookups(self._cipher, wanted)
        document = self._collection.find_one({"_email_key": {"$in": keys}})
        if document is None or document["_id"] in self.pending:  # changed in this unit
            return None
        return self._value(document)

    @translated
    def _update(self, account: Account) -> None:
        floor_instants(account)
        other = self._by_email(account.email)
        if other is not None and other.id != account.id:
            raise AlreadyExists("that e-mail address has an account")
        self._stage_update(account)


class MongoOneTimeSecretRepository(Profiles[OneTimeSecret], OneTimeSecretRepository):
    kind = OneTimeSecret
    label = "secret"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, "one_time_secrets")

    @translated
    def add(self, secret: OneTimeSecret) -> None:
        floor_instants(secret)
        self._stage_add(secret)
        secret.version = 1

    @translated
    def get(self, secret_id: str) -> OneTimeSecret:
        return self._find(secret_id)

    @translated
    def latest(self, account_id: UserId, purpose: SecretPurpose) -> OneTimeSecret | None:
        cursor = (
            self._collection.find({"account_id": account_id.value, "purpose": purpose.value})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(1 + len(self.pending))
        )
        found = {document["_id"]: from_document(document, OneTimeSecret) for document in cursor}
        for key, change in self.pending.items():
            found.pop(key, None)
            if change.value.account_id == account_id and change.value.purpose is purpose:
                found[key] = evolve(change.value)
        if not found:
            return None
        return max(found.values(), key=lambda secret: (secret.created_at, secret.id))

    @translated
    def update(self, secret: OneTimeSecret) -> None:
        floor_instants(secret)
        self._stage_update(secret)
        secret.version += 1


@define(frozen=True)
class _Revocation:
    field_name: str  # "family_id" or "account_id"
    value: str
    at: datetime

    def applies_to(self, token: RefreshToken) -> bool:
        return token.revoked_at is None and str(getattr(token, self.field_name)) == self.value

    def apply(self, token: RefreshToken) -> RefreshToken:
        return evolve(token, revoked_at=self.at, version=token.version + 1)


class MongoRefreshTokenRepository(Profiles[RefreshToken], RefreshTokenRepository):
    """Revocations are buffered like every write and applied at commit as one ``update_many``
    per revocation (each document atomically; a token rotated meanwhile fails its
    compare-and-set, as the version moves). Tokens this unit of work holds are revoked in
    memory at the call, and reads of others see the revocation laid over them."""

    kind = RefreshToken
    label = "token"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, "refresh_tokens")
        self.revocations: list[_Revocation] = []

    def _with_revocations(self, token: RefreshToken) -> RefreshToken:
        for revocation in self.revocations:
            if revocation.applies_to(token):
                token = revocation.apply(token)
        return token

    def _current(self, key: str) -> RefreshToken | None:
        if key in self.pending:
            return super()._current(key)
        document = self._read(key)
        if document is None:
            return None
        return self._with_revocations(from_document(document, RefreshToken))

    def _version_seen(self, document: Document) -> int:
        return self._with_revocations(from_document(document, RefreshToken)).version

    @translated
    def add(self, token: RefreshToken) -> None:
        floor_instants(token)
        self._stage_add(token)
        token.version = 1

    @translated
    def get(self, token_id: str) -> RefreshToken:
        return self._find(token_id)

    @translated
    def update(self, token: RefreshToken) -> None:
        floor_instants(token)
        self._stage_update(token)
        token.version += 1

    def _revoke(self, revocation: _Revocation) -> None:
        for change in self.pending.values():
            if revocation.applies_to(change.value):
                change.value = revocation.apply(change.value)
        self.revocations.append(revocation)

    def revoke_family(self, family_id: str, at: datetime) -> None:
        self._revoke(_Revocation("family_id", family_id, floor_ms(at)))

    def revoke_account(self, account_id: UserId, at: datetime) -> None:
        self._revoke(_Revocation("account_id", account_id.value, floor_ms(at)))

    def flush_revocations(self) -> None:
        """Apply the revocations to the tokens on the server. Tokens this unit of work wrote
        already carry theirs (or, added after the call, must not get it)."""
        for revocation in self.revocations:
            self._collection.update_many(
                {
                    revocation.field_name: revocation.value,
                    "revoked_at": None,
                    "_id": {"$nin": list(self.pending)},
                },
                {"$set": {"revoked_at": revocation.at}, "$inc": {"version": 1}},
            )
