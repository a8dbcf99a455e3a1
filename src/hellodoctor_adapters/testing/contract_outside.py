"""The contracts of the ports to outside services: blob storage and the payment gateway.

Subclass ``BlobStorageContract`` (override ``blob_storage``) or ``PaymentGatewayContract``
(override ``payment_gateway`` and ``customer_pays``) with a fresh instance of your adapter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from hellodoctor_domain.errors import DomainError, InvalidValue, NotFound, WebhookRejected
from hellodoctor_domain.model.payments import PaymentId
from hellodoctor_domain.model.values import Money
from hellodoctor_domain.ports.gateway import GatewayEventKind


class _TooLarge(Exception):
    """What a caller's byte counter raises past its limit."""


class BlobStorageContract:
    """Behaviour suite for blob storage adapters. Override ``blob_storage``; ``large_size`` is
    the size of the stream that must cross the adapter's multipart threshold."""

    large_size = 11 * 1024 * 1024

    @pytest.fixture
    def blob_storage(self) -> Any:
        raise NotImplementedError("override the blob_storage fixture")

    def test_put_then_get_returns_the_same_bytes(self, blob_storage: Any) -> None:
        payload = bytes(range(256)) * 10
        blob_storage.put("reports/p1/scan.pdf", payload, "application/pdf")
        assert blob_storage.get("reports/p1/scan.pdf") == payload
        assert b"".join(blob_storage.open("reports/p1/scan.pdf")) == payload
        assert blob_storage.exists("reports/p1/scan.pdf")

    def test_put_replaces(self, blob_storage: Any) -> None:
        blob_storage.put("k", b"one", "text/plain")
        blob_storage.put("k", b"two", "text/plain")
        assert blob_storage.get("k") == b"two"

    def test_missing_and_deleted_blobs_are_not_found(self, blob_storage: Any) -> None:
        with pytest.raises(NotFound):
            blob_storage.get("never-written")
        with pytest.raises(NotFound):
            blob_storage.open("never-written")
        assert not blob_storage.exists("never-written")
        blob_storage.put("gone", b"x", "text/plain")
        blob_storage.delete("gone")
        blob_storage.delete("gone")  # deleting twice is fine
        with pytest.raises(NotFound):
            blob_storage.get("gone")
        assert not blob_storage.exists("gone")

    def test_unicode_keys_round_trip(self, blob_storage: Any) -> None:
        key = "documents/pat-1/रिपोर्ट été 📄.pdf"
        blob_storage.put(key, b"%PDF-1.7", "application/pdf")
        assert blob_storage.get(key) == b"%PDF-1.7"
        assert [info.key for info in blob_storage.listing("documents/pat-1/")] == [key]

    @pytest.mark.parametrize(
        "key", ["../escape", "a/../../escape", "/absolute", "a//b", "./here", "a\\..\\b", ""]
    )
    def test_keys_that_could_leave_the_store_are_refused(self, blob_storage: Any, key: str) -> None:
        with pytest.raises(InvalidValue):
            blob_storage.put(key, b"x", "text/plain")
        with pytest.raises(InvalidValue):
            blob_storage.get(key)

    def test_a_large_stream_is_stored_whole(self, blob_storage: Any) -> None:
        chunk = bytes(range(256)) * 4096  # 1 MiB
        count, rest = divmod(self.large_size, len(chunk))
        chunks = [chunk] * count + [chunk[:rest]]
        stored = blob_storage.put_stream("big/scan.dcm", iter(chunks), "application/dicom")
        assert stored == self.large_size
        read = blob_storage.get("big/scan.dcm")
        assert len(read) == self.large_size
        assert hashlib.sha256(read).digest() == hashlib.sha256(b"".join(chunks)).digest()

    def test_a_stream_whose_iterator_raises_stores_nothing(self, blob_storage: Any) -> None:
        def counted() -> Iterator[bytes]:
            for _ in range(self.large_size // (1 << 20) + 1):
                yield b"x" * (1 << 20)
            raise _TooLarge

        with pytest.raises(_TooLarge):
            blob_storage.put_stream("cut/short.pdf", counted(), "application/pdf")
        assert not blob_storage.exists("cut/short.pdf")
        assert list(blob_storage.listing("cut/")) == []

    def test_listing_sees_keys_under_a_prefix_with_size_and_time(self, blob_storage: Any) -> None:
        blob_storage.put("list/a", b"12345", "text/plain")
        blob_storage.put("list/b/c", b"1", "text/plain")
        blob_storage.put("other/d", b"1", "text/plain")
        found = sorted(blob_storage.listing("list/"), key=lambda info: info.key)
        assert [(info.key, info.size) for info in found] == [("list/a", 5), ("list/b/c", 1)]
        assert all(info.modified_at.utcoffset() == timedelta(0) for info in found)


class PaymentGatewayContract:
    """Behaviour suite for payment gateways. Override ``payment_gateway`` and
    ``customer_pays``: a callable ``(gateway, provider_reference) -> (body, signature)`` that
    plays the customer paying the intent and returns the signed webhook the provider sends
    (offline: ``gateway.complete``; Stripe: confirm against localstripe and capture the
    delivery)."""

    @pytest.fixture
    def payment_gateway(self) -> Iterator[Any]:
        raise NotImplementedError("override the payment_gateway fixture")

    @pytest.fixture
    def customer_pays(self) -> Callable[[Any, str], tuple[bytes, str]]:
        raise NotImplementedError("override the customer_pays fixture")

    def _intent(self, gateway: Any, key: str = "pay-1", amount: int = 5000) -> Any:
        return gateway.create_intent(
            amount=Money(amount, "EUR"),
            idempotency_key=f"intent:{key}",
            metadata={"payment_id": key, "appointment_id": "a1"},
        )

    def test_the_same_idempotency_key_never_creates_a_second_intent(
        self, payment_gateway: Any
    ) -> None:
        first = self._intent(payment_gateway, "pay-1")
        again = self._intent(payment_gateway, "pay-1")
        other = self._intent(payment_gateway, "pay-2")
        assert again.provider_reference == first.provider_reference
        assert other.provider_reference != first.provider_reference
        assert first.client_secret

    def test_refunding_an_unknown_payment_is_not_found(self, payment_gateway: Any) -> None:
        with pytest.raises(NotFound):
            payment_gateway.refund(
                provider_reference="no-such-payment",
                amount=Money(100, "EUR"),
                idempotency_key="r-1",
            )

    def test_a_paid_intent_becomes_a_verified_success_event(
        self, payment_gateway: Any, customer_pays: Callable[[Any, str], tuple[bytes, str]]
    ) -> None:
        intent = self._intent(payment_gateway)
        body, signature = customer_pays(payment_gateway, intent.provider_reference)
        event = payment_gateway.parse_event(body=body, signature=signature)
        assert event.kind is GatewayEventKind.SUCCEEDED
        assert event.provider_reference == intent.provider_reference
        assert event.payment_id == PaymentId("pay-1")
        assert event.id

    def test_a_forged_or_unsigned_webhook_is_rejected(
        self, payment_gateway: Any, customer_pays: Callable[[Any, str], tuple[bytes, str]]
    ) -> None:
        intent = self._intent(payment_gateway)
        body, signature = customer_pays(payment_gateway, intent.provider_reference)
        tampered = body.replace(b"pay-1", b"pay-2")
        for wrong_body, wrong_signature in (
            (body, None),
            (body, ""),
            (body, signature[:-2] + ("00" if not signature.endswith("00") else "11")),
            (tampered, signature),
            (b"not json", signature),
        ):
            with pytest.raises(WebhookRejected):
                payment_gateway.parse_event(body=wrong_body, signature=wrong_signature)

    def test_refunds_are_idempotent_and_never_exceed_the_payment(
        self, payment_gateway: Any, customer_pays: Callable[[Any, str], tuple[bytes, str]]
    ) -> None:
        intent = self._intent(payment_gateway, amount=5000)
        customer_pays(payment_gateway, intent.provider_reference)
        reference = intent.provider_reference
        first = payment_gateway.refund(
            provider_reference=reference, amount=Money(3000, "EUR"), idempotency_key="r-1"
        )
        again = payment_gateway.refund(
            provider_reference=reference, amount=Money(3000, "EUR"), idempotency_key="r-1"
        )
        assert again == first
        with pytest.raises(DomainError):
            payment_gateway.refund(
                provider_reference=reference, amount=Money(2001, "EUR"), idempotency_key="r-2"
            )
        payment_gateway.refund(
            provider_reference=reference, amount=Money(2000, "EUR"), idempotency_key="r-3"
        )

    def test_cancelling_an_unpaid_intent_twice_is_fine_and_a_paid_one_says_so(
        self, payment_gateway: Any, customer_pays: Callable[[Any, str], tuple[bytes, str]]
    ) -> None:
        unpaid = self._intent(payment_gateway, "pay-1")
        assert payment_gateway.cancel_intent(provider_reference=unpaid.provider_reference)
        assert payment_gateway.cancel_intent(provider_reference=unpaid.provider_reference)
        paid = self._intent(payment_gateway, "pay-2")
        customer_pays(payment_gateway, paid.provider_reference)
        assert not payment_gateway.cancel_intent(provider_reference=paid.provider_reference)
