"""Who may do what to an appointment, until when, and what a cancellation refunds."""

from __future__ import annotations

from datetime import datetime, timedelta

from attrs import define, field

from hellodoctor_domain.errors import AccessDenied, CancellationNotAllowed, InvalidValue
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.values import Actor, Money, Role, utc


def is_party(actor: Actor, appointment: Appointment) -> bool:
    """The patient who booked it, the doctor who sees them, or any admin."""
    if actor.role is Role.ADMIN:
        return True
    if actor.role is Role.PATIENT:
        return actor.patient_id == appointment.patient_id
    return actor.doctor_id == appointment.doctor_id


def require_party(actor: Actor, appointment: Appointment) -> None:
    if not is_party(actor, appointment):
        raise AccessDenied(f"{actor.role} {actor.user_id} is not a party to {appointment.id}")


def require_clinician(actor: Actor, appointment: Appointment) -> None:
    """Outcomes (completed, no-show) are recorded by the treating doctor or an admin."""
    require_party(actor, appointment)
    if actor.role is Role.PATIENT:
        raise AccessDenied("only the doctor or an admin records how a visit went")


def _percent(_instance: object, _attribute: object, value: int) -> None:
    if not 0 <= value <= 100:
        raise InvalidValue("a refund share is a whole percentage from 0 to 100")


@define(frozen=True)
class CancellationPolicy:
    """The default clinic policy.

    * A patient may cancel their own appointment until it ends. What they paid comes back in
      full when they cancel at least ``full_refund_notice`` before the start,
      ``late_refund_percent`` of it when later, and nothing once the visit has started.
    * The doctor, an admin or the front desk may cancel until it ends, and the patient is
      always refunded in full.
    * A hold has not been paid yet, so cancelling it refunds nothing.
    """

    full_refund_notice: timedelta = timedelta(hours=24)
    late_refund_percent: int = field(default=50, validator=_percent)

    def refund_for(
        self, appointment: Appointment, actor: Actor, now: datetime, *, for_the_clinic: bool = False
    ) -> Money:
        """The refund a cancellation by ``actor`` at ``now`` implies; raises when not allowed.
        ``for_the_clinic``: ``actor`` is the front desk, whose reach the caller checked; the
        clinic cancelling refunds in full, as the doctor's cancellation does."""
        if not for_the_clinic:
            require_party(actor, appointment)
        now = utc(now)
        if now >= appointment.time.end:
            raise CancellationNotAllowed(f"appointment {appointment.id} is already over")
        if appointment.status is not AppointmentStatus.BOOKED:
            return Money.zero(appointment.price.currency)
        if actor.role is not Role.PATIENT:
            return appointment.price
        notice = appointment.time.start - now
        if notice >= self.full_refund_notice:
            return appointment.price
        if notice > timedelta(0):
            return appointment.price.share(self.late_refund_percent)
        return Money.zero(appointment.price.currency)
