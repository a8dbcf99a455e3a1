"""A small clinic with scheduling and billing wired to the offline gateway, for payment tests
on any storage.

``Clinic(uow_factory)`` registers doctors ``d1`` (50.00 EUR, 30-minute slots) and ``d2``
(20.00 EUR) working 08:00-18:00 UTC every day, and patients ``p1..p3``; its clock starts at
06:00 on ``MONDAY`` and moves only when told.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway, WebhookDelivery
from hellodoctor_adapters.testing.fixtures import MONDAY, doctor, every_day, patient
from hellodoctor_domain import (
    Actor,
    Appointment,
    AppointmentId,
    BookingRequest,
    DoctorId,
    Money,
    PatientId,
    Scheduling,
    SchedulingSettings,
    UserId,
)
from hellodoctor_domain.model.payments import Payment, PaymentMethod
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.billing import Billing, BillingSettings, WebhookResult

OPENING = MONDAY + timedelta(hours=6)
HOLD = timedelta(minutes=15)
FEES = {"d1": Money(5000, "EUR"), "d2": Money(2000, "EUR")}
PATIENTS = ("p1", "p2", "p3")
ADMIN = Actor.admin(UserId("admin"))


class Clinic:
    def __init__(self, uow_factory: UnitOfWorkFactory, settings: BillingSettings | None = None):
        self.uow = uow_factory
        self.clock = ManualClock(OPENING)
        self.gateway = OfflinePaymentGateway()
        self.settings = settings or BillingSettings()
        self.scheduling = Scheduling(
            uow_factory,
            self.clock,
            SequentialIds("apt"),
            self.gateway,
            SchedulingSettings(hold_for=HOLD),
        )
        self.billing = Billing(
            uow_factory, self.clock, SequentialIds("pay"), self.gateway, self.settings
        )
        for key, fee in FEES.items():
            self.scheduling.register_doctor(ADMIN, doctor(key, fee))
            self.scheduling.define_availability(
                ADMIN,
                every_day(DoctorId(key), minimum_notice=timedelta(hours=1), max_slots_per_visit=2),
            )
        for key in PATIENTS:
            self.scheduling.register_patient(patient(key))

    @staticmethod
    def patient(key: str = "p1") -> Actor:
        return Actor.patient(PatientId(key))

    def slot(self, day: int = 2, index: int = 0) -> datetime:
        return MONDAY + timedelta(days=day, hours=8, minutes=30 * index)

    def hold(self, patient_key: str = "p1", doctor_key: str = "d1", **slot: int) -> Appointment:
        return self.scheduling.book(
            self.patient(patient_key),
            BookingRequest(
                doctor_id=DoctorId(doctor_key),
                patient_id=PatientId(patient_key),
                start=self.slot(**slot),
            ),
        )

    def pay(self, appointment: Appointment, method: PaymentMethod) -> Payment:
        started = self.billing.start_payment(
            self.patient(appointment.patient_id.value), appointment.id, method
        )
        return started.payment

    def deliver(self, delivery: WebhookDelivery) -> WebhookResult:
        return self.billing.handle_webhook(delivery.body, delivery.signature)

    def top_up(self, patient_key: str, minor_units: int) -> None:
        started = self.billing.top_up(self.patient(patient_key), Money(minor_units, "EUR"))
        assert started.payment.provider_reference is not None
        self.deliver(self.gateway.complete(started.payment.provider_reference))

    def appointment(self, appointment_id: AppointmentId) -> Appointment:
        with self.uow() as uow:
            return uow.appointments.get(appointment_id)

    def payment_of(self, appointment_id: AppointmentId) -> Payment:
        with self.uow() as uow:
            found = uow.payments.for_appointment(appointment_id)
        assert found is not None, f"{appointment_id} has no payment"
        return found

    def balance(self, patient_key: str = "p1") -> Money:
        with self.uow() as uow:
            return uow.wallets.balance(PatientId(patient_key), "EUR")
