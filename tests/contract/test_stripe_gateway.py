"""The Stripe gateway against localstripe, started by the fixtures; webhooks are the real
signed deliveries localstripe POSTs to a local receiver. See docs/payments.md for what
localstripe lacks and ``tests/support/localstripe_server.py`` adds."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import stripe

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory, SequentialIds
from hellodoctor_adapters.stripe import StripeGateway
from hellodoctor_adapters.stripe.testing import LocalStripe, WebhookReceiver, localstripe
from hellodoctor_adapters.testing import PaymentGatewayContract
from hellodoctor_adapters.testing.clinic import Clinic
from hellodoctor_domain import Actor, AppointmentStatus, DoctorId, Scheduling
from hellodoctor_domain.errors import (
    BackendUnavailable,
    Conflict,
    IllegalTransition,
    InvalidValue,
    NotFound,
    RefundExceedsPayment,
    WebhookRejected,
)
from hellodoctor_domain.model.payments import PaymentId, PaymentMethod, PaymentStatus
from hellodoctor_domain.model.values import Money
from hellodoctor_domain.ports.gateway import GatewayEventKind
from hellodoctor_domain.use_cases.billing import Billing, WebhookOutcome

WEBHOOK_SECRET = "whsec_hellodoctor_tests"


@pytest.fixture(scope="module")
def local_stripe() -> Iterator[LocalStripe]:
    with localstripe() as server:
        yield server


@pytest.fixture(scope="module")
def receiver(local_stripe: LocalStripe) -> Iterator[WebhookReceiver]:
    with WebhookReceiver.running() as running:
        local_stripe.register_webhook(running.url, WEBHOOK_SECRET)
        yield running


@pytest.fixture
def secret_key(local_stripe: LocalStripe) -> str:
    return local_stripe.new_secret_key()


@pytest.fixture
def gateway(local_stripe: LocalStripe, secret_key: str) -> StripeGateway:
    return local_stripe.gateway(secret_key, WEBHOOK_SECRET)


class Customer:
    """Plays the patient's browser: attaches a test card and confirms the intent (Stripe.js
    does this with the client secret; localstripe takes the secret key)."""

    def __init__(self, local_stripe: LocalStripe, secret_key: str) -> None:
        self._client = stripe.StripeClient(
            secret_key, base_addresses={"api": local_stripe.api_base}, max_network_retries=0
        )

    def pays(self, intent_id: str, card: str = "pm_card_visa") -> None:
        self._client.v1.payment_intents.update(intent_id, {"payment_method": card})
        self._client.v1.payment_intents.confirm(intent_id)


@pytest.fixture
def customer(local_stripe: LocalStripe, secret_key: str) -> Customer:
    return Customer(local_stripe, secret_key)


@pytest.fixture
def pay_and_receive(
    customer: Customer, receiver: WebhookReceiver
) -> Callable[[object, str], tuple[bytes, str]]:
    def pay(_gateway: object, intent_id: str) -> tuple[bytes, str]:
        customer.pays(intent_id)
        delivery = receiver.wait_for_event("payment_intent.succeeded", intent_id)
        return delivery.body, delivery.signature

    return pay


class TestStripeGatewayContract(PaymentGatewayContract):
    @pytest.fixture
    def payment_gateway(self, gateway: StripeGateway) -> StripeGateway:
        return gateway

    @pytest.fixture
    def customer_pays(
        self, pay_and_receive: Callable[[object, str], tuple[bytes, str]]
    ) -> Callable[[object, str], tuple[bytes, str]]:
        return pay_and_receive


def _intent(gateway: StripeGateway, key: str, amount: Money | None = None) -> str:
    return gateway.create_intent(
        amount=amount or Money(5000, "EUR"),
        idempotency_key=f"intent:{key}",
        metadata={"payment_id": key, "appointment_id": f"appt-{key}", "patient_id": "p1"},
    ).provider_reference


def _sign(body: bytes, secret: str, timestamp: int) -> str:
    return stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp
    )


class TestTheCardFlow:
    def test_a_confirmed_intent_arrives_as_a_signed_success_with_its_payment_and_amount(
        self,
        gateway: StripeGateway,
        customer: Customer,
        receiver: WebhookReceiver,
        local_stripe: LocalStripe,
        secret_key: str,
    ) -> None:
        intent = gateway.create_intent(
            amount=Money(4250, "EUR"),
            idempotency_key="intent:pay-flow",
            metadata={"payment_id": "pay-flow", "appointment_id": "appt-9"},
        )
        assert intent.provider_reference.startswith("pi_")
        assert intent.status == "requires_payment_method"
        assert intent.client_secret
        stored = stripe.StripeClient(
            secret_key, base_addresses={"api": local_stripe.api_base}
        ).v1.payment_intents.retrieve(intent.provider_reference)
        assert (stored.amount, stored.currency) == (4250, "eur")
        assert stored.metadata.to_dict() == {"payment_id": "pay-flow", "appointment_id": "appt-9"}

        customer.pays(intent.provider_reference)
        delivery = receiver.wait_for_event("payment_intent.succeeded", intent.provider_reference)
        event = gateway.parse_event(body=delivery.body, signature=delivery.signature)

        assert event.kind is GatewayEventKind.SUCCEEDED
        assert event.id == delivery.event["id"]
        assert event.provider_reference == intent.provider_reference
        assert event.payment_id == PaymentId("pay-flow")
        assert event.amount == Money(4250, "EUR")

    def test_a_declined_card_arrives_as_a_failure_with_the_reason(
        self, gateway: StripeGateway, customer: Customer, receiver: WebhookReceiver
    ) -> None:
        reference = _intent(gateway, "pay-declined")
        with pytest.raises(stripe.CardError):  # what the browser sees
            customer.pays(reference, card="pm_card_chargeCustomerFail")
        delivery = receiver.wait_for_event("payment_intent.payment_failed", reference)
        event = gateway.parse_event(body=delivery.body, signature=delivery.signature)
        assert event.kind is GatewayEventKind.FAILED
        assert event.failure == "card_declined"
        assert event.payment_id == PaymentId("pay-declined")

    def test_the_same_key_creates_one_intent_and_other_parameters_are_a_conflict(
        self, gateway: StripeGateway
    ) -> None:
        first = _intent(gateway, "pay-once")
        assert _intent(gateway, "pay-once") == first
        with pytest.raises(Conflict):
            _intent(gateway, "pay-once", amount=Money(9999, "EUR"))

    def test_a_zero_decimal_currency_is_sent_in_whole_units(
        self, gateway: StripeGateway, local_stripe: LocalStripe, secret_key: str
    ) -> None:
        reference = _intent(gateway, "pay-yen", amount=Money(3000, "JPY"))
        stored = stripe.StripeClient(
            secret_key, base_addresses={"api": local_stripe.api_base}
        ).v1.payment_intents.retrieve(reference)
        assert (stored.amount, stored.currency) == (3000, "jpy")


class TestRefundsAndCancellation:
    def test_partial_refunds_add_up_to_the_payment_and_no_further(
        self,
        gateway: StripeGateway,
        pay_and_receive: Callable[[object, str], tuple[bytes, str]],
    ) -> None:
        reference = _intent(gateway, "pay-refund", amount=Money(5000, "EUR"))
        pay_and_receive(gateway, reference)
        first = gateway.refund(
            provider_reference=reference, amount=Money(2000, "EUR"), idempotency_key="k:1"
        )
        assert first.startswith("re_")
        assert (
            gateway.refund(
                provider_reference=reference, amount=Money(2000, "EUR"), idempotency_key="k:1"
            )
            == first
        )
        second = gateway.refund(
            provider_reference=reference, amount=Money(3000, "EUR"), idempotency_key="k:2"
        )
        assert second != first
        with pytest.raises(RefundExceedsPayment):
            gateway.refund(
                provider_reference=reference, amount=Money(1, "EUR"), idempotency_key="k:3"
            )

    def test_an_unpaid_intent_cannot_be_refunded(self, gateway: StripeGateway) -> None:
        reference = _intent(gateway, "pay-unpaid")
        with pytest.raises(InvalidValue):
            gateway.refund(
                provider_reference=reference, amount=Money(100, "EUR"), idempotency_key="k:u"
            )

    def test_unknown_intents_are_not_found(self, gateway: StripeGateway) -> None:
        with pytest.raises(NotFound):
            gateway.cancel_intent(provider_reference="pi_doesnotexist")
        with pytest.raises(NotFound):
            gateway.refund(
                provider_reference="pi_doesnotexist",
                amount=Money(100, "EUR"),
                idempotency_key="k:x",
            )

    def test_a_cancelled_intent_cannot_be_paid(
        self, gateway: StripeGateway, customer: Customer
    ) -> None:
        reference = _intent(gateway, "pay-cancelled")
        assert gateway.cancel_intent(provider_reference=reference)
        with pytest.raises(stripe.InvalidRequestError):
            customer.pays(reference)


class TestWebhookVerification:
    """Real deliveries, then altered: each alteration must be refused as ``WebhookRejected``
    (the HTTP layer's 400), never let through and never raised as anything else."""

    @pytest.fixture
    def delivery(
        self,
        gateway: StripeGateway,
        customer: Customer,
        receiver: WebhookReceiver,
    ) -> tuple[bytes, str]:
        reference = _intent(gateway, "pay-signed")
        customer.pays(reference)
        arrived = receiver.wait_for_event("payment_intent.succeeded", reference)
        return arrived.body, arrived.signature

    def test_the_genuine_delivery_is_accepted(
        self, gateway: StripeGateway, delivery: tuple[bytes, str]
    ) -> None:
        body, signature = delivery
        assert gateway.parse_event(body=body, signature=signature).kind is (
            GatewayEventKind.SUCCEEDED
        )

    def test_a_tampered_body_is_rejected(
        self, gateway: StripeGateway, delivery: tuple[bytes, str]
    ) -> None:
        body, signature = delivery
        tampered = body.replace(b'"amount": 5000', b'"amount": 1')
        assert tampered != body
        with pytest.raises(WebhookRejected):
            gateway.parse_event(body=tampered, signature=signature)

    def test_another_secret_is_rejected(
        self, local_stripe: LocalStripe, secret_key: str, delivery: tuple[bytes, str]
    ) -> None:
        body, signature = delivery
        other = local_stripe.gateway(secret_key, "whsec_someone_else")
        with pytest.raises(WebhookRejected):
            other.parse_event(body=body, signature=signature)

    @pytest.mark.parametrize("header", [None, "", "garbage", "t=abc,v1=00", "t=1,v0=00"])
    def test_a_missing_or_malformed_signature_is_rejected(
        self, gateway: StripeGateway, delivery: tuple[bytes, str], header: str | None
    ) -> None:
        with pytest.raises(WebhookRejected):
            gateway.parse_event(body=delivery[0], signature=header)

    def test_the_tolerance_is_300_seconds(
        self, gateway: StripeGateway, delivery: tuple[bytes, str]
    ) -> None:
        # Re-signed with the right secret at chosen ages: only the timestamp differs.
        body = delivery[0]
        now = int(time.time())
        assert gateway.parse_event(body=body, signature=_sign(body, WEBHOOK_SECRET, now - 290))
        with pytest.raises(WebhookRejected, match="tolerance"):
            gateway.parse_event(body=body, signature=_sign(body, WEBHOOK_SECRET, now - 310))

    @pytest.mark.parametrize("body", [b"not json", b"[]", b'{"object": "event"}'])
    def test_a_signed_body_that_is_not_an_event_is_rejected(
        self, gateway: StripeGateway, body: bytes
    ) -> None:
        with pytest.raises(WebhookRejected):
            gateway.parse_event(body=body, signature=_sign(body, WEBHOOK_SECRET, int(time.time())))

    def test_a_body_that_is_not_utf8_is_rejected(self, gateway: StripeGateway) -> None:
        with pytest.raises(WebhookRejected):
            gateway.parse_event(body=b"\xff\xfe{}", signature="t=1,v1=00")


def _signed_event(event_type: str, subject: dict[str, object]) -> tuple[bytes, str]:
    body = json.dumps(
        {
            "id": f"evt_{event_type}",
            "object": "event",
            "type": event_type,
            "data": {"object": subject},
        }
    ).encode()
    return body, _sign(body, WEBHOOK_SECRET, int(time.time()))


class TestEventsLocalstripeDoesNotSend:
    """localstripe emits no ``processing`` or ``canceled`` events; Stripe does. These are
    signed here with the webhook secret, in Stripe's documented shape."""

    @pytest.mark.parametrize(
        ("event_type", "kind"),
        [
            ("payment_intent.processing", GatewayEventKind.PROCESSING),
            ("payment_intent.canceled", GatewayEventKind.CANCELLED),
            ("payment_intent.requires_action", GatewayEventKind.OTHER),
        ],
    )
    def test_intent_events(
        self, gateway: StripeGateway, event_type: str, kind: GatewayEventKind
    ) -> None:
        body, signature = _signed_event(
            event_type,
            {
                "id": "pi_123",
                "object": "payment_intent",
                "amount": 500,
                "currency": "eur",
                "metadata": {"payment_id": "pay-7"},
            },
        )
        event = gateway.parse_event(body=body, signature=signature)
        assert (event.kind, event.provider_reference, event.payment_id) == (
            kind,
            "pi_123",
            PaymentId("pay-7"),
        )

    def test_events_about_other_objects_are_other(self, gateway: StripeGateway) -> None:
        body, signature = _signed_event("charge.refunded", {"id": "ch_1", "object": "charge"})
        event = gateway.parse_event(body=body, signature=signature)
        assert event.kind is GatewayEventKind.OTHER
        assert event.payment_id is None


def test_an_unreachable_stripe_is_backend_unavailable() -> None:
    gateway = StripeGateway(
        "sk_test_x", WEBHOOK_SECRET, api_base="http://127.0.0.1:9", max_network_retries=0
    )
    with pytest.raises(BackendUnavailable):
        gateway.create_intent(
            amount=Money(100, "EUR"), idempotency_key="intent:x", metadata={"payment_id": "x"}
        )
    with pytest.raises(BackendUnavailable):
        gateway.cancel_intent(provider_reference="pi_123")


class TestBillingOnStripe:
    """The domain's use cases (billing, and scheduling's cancel and expiry) with this gateway,
    the money at localstripe checked after each step: a booking exists exactly when its money
    does."""

    @pytest.fixture
    def clinic(self, gateway: StripeGateway) -> Clinic:
        clinic = Clinic(InMemoryUnitOfWorkFactory())
        clinic.scheduling = Scheduling(
            clinic.uow, clinic.clock, SequentialIds("apt"), gateway, clinic.scheduling.settings
        )
        clinic.billing = Billing(
            clinic.uow, clinic.clock, SequentialIds("pay"), gateway, clinic.settings
        )
        return clinic

    @pytest.fixture
    def stripe_api(self, local_stripe: LocalStripe, secret_key: str) -> stripe.StripeClient:
        return stripe.StripeClient(secret_key, base_addresses={"api": local_stripe.api_base})

    def test_paid_by_card_booked_by_the_signed_webhook_and_refunded_on_cancellation(
        self,
        clinic: Clinic,
        customer: Customer,
        receiver: WebhookReceiver,
        stripe_api: stripe.StripeClient,
    ) -> None:
        held = clinic.hold()
        started = clinic.billing.start_payment(clinic.patient(), held.id, PaymentMethod.CARD)
        reference = started.payment.provider_reference
        assert reference is not None
        assert started.client_secret
        intent = stripe_api.v1.payment_intents.retrieve(reference)
        assert (intent.amount, intent.metadata["appointment_id"]) == (5000, held.id.value)

        customer.pays(reference)
        delivery = receiver.wait_for_event("payment_intent.succeeded", reference)
        applied = clinic.billing.handle_webhook(delivery.body, delivery.signature)
        again = clinic.billing.handle_webhook(delivery.body, delivery.signature)

        assert applied.outcome is WebhookOutcome.APPLIED
        assert again.outcome is WebhookOutcome.DUPLICATE
        assert clinic.appointment(held.id).status is AppointmentStatus.BOOKED
        assert clinic.payment_of(held.id).status is PaymentStatus.SUCCEEDED

        clinic.scheduling.cancel(Actor.doctor(DoctorId("d1")), held.id)
        with pytest.raises(IllegalTransition):  # cancelling again refunds nothing more
            clinic.scheduling.cancel(Actor.doctor(DoctorId("d1")), held.id)
        refunds = stripe_api.v1.refunds.list({"payment_intent": reference}).data
        assert [refund.amount for refund in refunds] == [5000]
        assert not clinic.payment_of(held.id).unsettled_refunds

    def test_a_lapsed_hold_cancels_its_intent_at_stripe(
        self, clinic: Clinic, customer: Customer, stripe_api: stripe.StripeClient
    ) -> None:
        held = clinic.hold()
        started = clinic.billing.start_payment(clinic.patient(), held.id, PaymentMethod.CARD)
        reference = started.payment.provider_reference
        assert reference is not None
        clinic.clock.advance(timedelta(minutes=16))
        assert clinic.scheduling.expire_holds() == [held.id]
        assert stripe_api.v1.payment_intents.retrieve(reference).status == "canceled"
        with pytest.raises(stripe.InvalidRequestError):
            customer.pays(reference)
