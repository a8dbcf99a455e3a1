"""What the API accepts (attrs request classes, structured by cattrs) and what it answers
(domain objects turned into JSON-ready dicts).

Request classes hold only what a client may decide. Prices, statuses, roles and, for
patients, the patient are never among them: they come from the doctor's fee, the state
machine and the token.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from hellodoctor_domain import (
    Appointment,
    AppointmentType,
    Availability,
    Doctor,
    DoctorId,
    ExtraHours,
    FreeSlot,
    LocalWindow,
    Money,
    TimeOff,
    VisitKind,
    Weekday,
    WorkingDay,
)
from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, Account
from hellodoctor_domain.model.payments import Payment, PaymentMethod, Refund, Wallet
from hellodoctor_domain.model.values import EmailAddress
from hellodoctor_domain.use_cases.billing import PaymentStarted
from hellodoctor_domain.use_cases.identity import PasswordSet, TwoFactorEnrollment
from hellodoctor_http.json_schema import choice, request_body, text, wire

# -- requests -------------------------------------------------------------------------------

MAX_TEXT = 1000
MAX_SECRET = 512
CURRENCY = "^[A-Z]{3}$"


@request_body
class WindowBody:
    start: time
    end: time


@request_body
class WorkingDayBody:
    weekday: str = choice(Weekday)
    hours: tuple[WindowBody, ...]
    breaks: tuple[WindowBody, ...] = ()


@request_body
class TimeOffBody:
    first_day: date
    last_day: date
    window: WindowBody | None = None
    reason: str = text(MAX_TEXT, default="")


@request_body
class ExtraHoursBody:
    day: date
    window: WindowBody


@request_body
class AvailabilityBody:
    weekly: tuple[WorkingDayBody, ...]
    time_zone: str | None = wire(default=None, description="Defaults to the doctor's.")
    slot_minutes: int = wire(default=30, minimum=1)
    buffer_minutes: int = wire(default=0, minimum=0)
    minimum_notice_minutes: int = wire(default=120, minimum=0)
    booking_horizon_days: int = wire(default=90, minimum=1)
    max_slots_per_visit: int = wire(default=4, minimum=1)
    time_off: tuple[TimeOffBody, ...] = ()
    extra_hours: tuple[ExtraHoursBody, ...] = ()

    def to_domain(self, doctor: Doctor) -> Availability:
        def window(body: WindowBody) -> LocalWindow:
            return LocalWindow(body.start, body.end)

        return Availability(
            doctor.id,
            self.time_zone or doctor.time_zone,
            [
                WorkingDay(
                    _weekday(day.weekday),
                    [window(w) for w in day.hours],
                    breaks=[window(w) for w in day.breaks],
                )
                for day in self.weekly
            ],
            slot_length=timedelta(minutes=self.slot_minutes),
            buffer=timedelta(minutes=self.buffer_minutes),
            minimum_notice=timedelta(minutes=self.minimum_notice_minutes),
            booking_horizon=timedelta(days=self.booking_horizon_days),
            max_slots_per_visit=self.max_slots_per_visit,
            time_off=[
                TimeOff(
                    off.first_day,
                    off.last_day,
                    window(off.window) if off.window else None,
                    off.reason,
                )
                for off in self.time_off
            ],
            extra_hours=[ExtraHours(extra.day, window(extra.window)) for extra in self.extra_hours],
        )


def _weekday(name: str) -> Weekday:
    try:
        return Weekday[name.strip().upper()]
    except KeyError:
        raise InvalidValue(f"{name!r} is not a weekday (monday ... sunday)") from None


@request_body
class BookingBody:
    """A patient's booking: for themself, so no patient field at all."""

    doctor_id: str
    start: datetime
    type: str = choice(AppointmentType, default=AppointmentType.IN_PERSON)
    reason: str = text(MAX_TEXT, default="")
    length_minutes: int | None = wire(
        default=None, description="A whole number of the doctor's slots; default one slot."
    )
    visit_kind: str = choice(VisitKind, default=VisitKind.REGULAR)


@request_body
class StaffBookingBody:
    """A doctor (into their own calendar) or an admin books for a named patient."""

    doctor_id: str
    patient_id: str = wire(description="Whom for: a doctor books into their own calendar.")
    start: datetime
    type: str = choice(AppointmentType, default=AppointmentType.IN_PERSON)
    reason: str = text(MAX_TEXT, default="")
    length_minutes: int | None = wire(
        default=None, description="A whole number of the doctor's slots; default one slot."
    )
    visit_kind: str = choice(VisitKind, default=VisitKind.REGULAR)


@request_body
class CancelBody:
    reason: str = text(MAX_TEXT, default="")


@request_body
class RescheduleBody:
    start: datetime


@request_body
class EmptyBody:
    """Actions that take no input still refuse input they do not understand."""


# Identity. No body names a role, a status, an id or a verified flag: the server decides them.


@request_body
class RegisterBody:
    email: EmailAddress
    password: str = wire(minLength=MIN_PASSWORD_LENGTH, maxLength=MAX_PASSWORD_LENGTH)
    name: str = text(MAX_TEXT)
    date_of_birth: date | None = None
    phone: str | None = text(MAX_SECRET, default=None)


@request_body
class EmailBody:
    email: EmailAddress


@request_body
class VerifyBody:
    email: EmailAddress
    code: str = text(MAX_SECRET, description="From the e-mail.")


@request_body
class LoginBody:
    email: EmailAddress
    password: str
    totp_code: str | None = text(
        MAX_SECRET,
        default=None,
        description="The authenticator app's code, once two-factor sign-in is on.",
    )


@request_body
class RefreshBody:
    refresh_token: str = text(MAX_SECRET)


@request_body
class ResetBody:
    token: str = text(MAX_SECRET, description="From the reset or invitation link (?token=).")
    password: str = wire(minLength=MIN_PASSWORD_LENGTH, maxLength=MAX_PASSWORD_LENGTH)


@request_body
class CodeBody:
    code: str = text(MAX_SECRET)


@request_body
class MoneyBody:
    minor_units: int = wire(minimum=0)
    currency: str = wire(pattern=CURRENCY)


@request_body
class PaymentBody:
    """How the patient pays; never how much (the price is the appointment's)."""

    method: str = choice(
        PaymentMethod, description="How to pay; the amount is always the appointment's price."
    )


@request_body
class TopUpBody:
    """The one amount a client names: what to load into the wallet (bounds are checked)."""

    amount: MoneyBody = wire(
        description="Within the clinic's top-up bounds, in one of its currencies."
    )


@request_body
class DoctorInviteBody:
    """An admin adds a doctor; the id is made by the server, the fee is whole minor units."""

    email: EmailAddress
    name: str = text(MAX_TEXT)
    specialty: str = text(MAX_TEXT)
    registration_number: str = text(MAX_TEXT)
    consultation_fee: MoneyBody
    time_zone: str = wire(description="IANA zone the doctor works in.")
    qualifications: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    def to_domain(self, key: DoctorId) -> Doctor:
        return Doctor(
            key,
            self.name,
            self.specialty,
            self.registration_number,
            Money(self.consultation_fee.minor_units, self.consultation_fee.currency),
            self.time_zone,
            qualifications=self.qualifications,
            languages=self.languages,
            email=self.email,
        )


# -- responses ------------------------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def money(amount: Money) -> dict[str, Any]:
    return {"minor_units": amount.minor_units, "currency": amount.currency, "text": str(amount)}


def doctor_json(doctor: Doctor) -> dict[str, Any]:
    return {
        "id": doctor.id.value,
        "name": doctor.name,
        "specialty": doctor.specialty,
        "registration_number": doctor.registration_number,
        "qualifications": list(doctor.qualifications),
        "languages": list(doctor.languages),
        "time_zone": doctor.time_zone,
        "consultation_fee": money(doctor.consultation_fee),
        "accepting_bookings": doctor.accepting_bookings,
    }


def _window(window: LocalWindow) -> dict[str, str]:
    return {"start": window.start.strftime("%H:%M"), "end": window.end.strftime("%H:%M")}


def _minutes(duration: timedelta) -> int:
    return int(duration.total_seconds() // 60)


def availability_json(availability: Availability) -> dict[str, Any]:
    return {
        "doctor_id": availability.doctor_id.value,
        "time_zone": availability.time_zone,
        "weekly": [
            {
                "weekday": day.weekday.name.lower(),
                "hours": [_window(w) for w in day.hours],
                "breaks": [_window(w) for w in day.breaks],
            }
            for day in availability.weekly
        ],
        "slot_minutes": _minutes(availability.slot_length),
        "buffer_minutes": _minutes(availability.buffer),
        "minimum_notice_minutes": _minutes(availability.minimum_notice),
        "booking_horizon_days": availability.booking_horizon.days,
        "max_slots_per_visit": availability.max_slots_per_visit,
        "time_off": [
            {
                "first_day": off.first_day.isoformat(),
                "last_day": off.last_day.isoformat(),
                "window": _window(off.window) if off.window else None,
                "reason": off.reason,
            }
            for off in availability.time_off
        ],
        "extra_hours": [
            {"day": extra.day.isoformat(), "window": _window(extra.window)}
            for extra in availability.extra_hours
        ],
        "version": availability.version,
    }


def slot_json(slot: FreeSlot) -> dict[str, Any]:
    return {
        "start": iso(slot.time.start),
        "end": iso(slot.time.end),
        "local_start": slot.local_start.isoformat(),
        "local_end": slot.local_end.isoformat(),
    }


def appointment_json(appointment: Appointment) -> dict[str, Any]:
    cancellation = appointment.cancellation
    return {
        "id": appointment.id.value,
        "doctor_id": appointment.doctor_id.value,
        "patient_id": appointment.patient_id.value,
        "start": iso(appointment.time.start),
        "end": iso(appointment.time.end),
        "status": appointment.status.value,
        "type": appointment.appointment_type.value,
        "visit_kind": appointment.visit_kind.value,
        "reason": appointment.reason,
        "price": money(appointment.price),
        "hold_expires_at": iso(appointment.hold_expires_at),
        "created_at": iso(appointment.created_at),
        "cancellation": None
        if cancellation is None
        else {
            "by": cancellation.by.value,
            "reason": cancellation.reason,
            "at": iso(cancellation.at),
            "refund": money(cancellation.refund),
        },
        "version": appointment.version,
    }


def account_json(account: Account) -> dict[str, Any]:
    """What an account owner may see of it: never the password hash or the TOTP secret."""
    return {
        "id": account.id.value,
        "email": str(account.email),
        "role": account.role.value,
        "status": account.status.value,
        "patient_id": None if account.patient_id is None else account.patient_id.value,
        "doctor_id": None if account.doctor_id is None else account.doctor_id.value,
        "two_factor_enabled": account.totp_enabled,
    }


def enrollment_json(enrollment: TwoFactorEnrollment) -> dict[str, str]:
    return {"secret": enrollment.secret, "provisioning_uri": enrollment.provisioning_uri}


def password_set_json(outcome: PasswordSet) -> dict[str, Any]:
    return {
        "account": account_json(outcome.account),
        "two_factor": None if outcome.two_factor is None else enrollment_json(outcome.two_factor),
    }


def parse_enum(kind: type[Any], value: str, field: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidValue(f"{field} is one of {allowed}, not {value!r}") from None


def doctor_id(value: str) -> DoctorId:
    return DoctorId(value)


def refund_json(refund: Refund) -> dict[str, Any]:
    return {
        "reason": refund.reason.value,
        "amount": money(refund.amount),
        "card": money(refund.card),
        "wallet": money(refund.wallet),
        "recorded_at": iso(refund.recorded_at),
        "settled": refund.settled,
    }


def payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id.value,
        "purpose": payment.purpose.value,
        "patient_id": payment.patient_id.value,
        "appointment_id": None if payment.appointment_id is None else payment.appointment_id.value,
        "method": payment.method.value,
        "status": payment.status.value,
        "amount": money(payment.amount),
        "wallet_part": money(payment.wallet_part),
        "card_part": money(payment.card_part),
        "refunded": money(payment.refunded),
        "failure": payment.failure,
        "refunds": [refund_json(refund) for refund in payment.refunds],
        "created_at": iso(payment.created_at),
        "updated_at": iso(payment.updated_at),
        "succeeded_at": iso(payment.succeeded_at),
    }


def payment_started_json(started: PaymentStarted) -> dict[str, Any]:
    payment = started.payment
    if started.client_secret is not None:
        next_step = "confirm_card"  # the client confirms with Stripe.js and the secret
    elif payment.method is PaymentMethod.OFFLINE:
        next_step = "pay_at_clinic"
    else:
        next_step = "none"  # paid (wallet), or waiting for the card's result
    return {
        "payment": payment_json(payment),
        "appointment": None
        if started.appointment is None
        else appointment_json(started.appointment),
        "client_secret": started.client_secret,
        "next_step": next_step,
        "due_at_clinic": money(payment.amount) if payment.method is PaymentMethod.OFFLINE else None,
    }


def wallet_json(wallet: Wallet) -> dict[str, Any]:
    return {
        "patient_id": wallet.patient_id.value,
        "currency": wallet.currency,
        "balance": money(wallet.balance),
        "entries": [
            {
                "reference": entry.reference,
                "kind": entry.kind.value,
                "amount": money(entry.amount),
                "recorded_at": iso(entry.recorded_at),
                "payment_id": None if entry.payment_id is None else entry.payment_id.value,
            }
            for entry in wallet.entries
        ],
    }
