"""Typed errors of the domain and of its ports.

Two families:

* ``DomainError`` -- a rule of the business refused the request (bad value, illegal transition,
  a booking outside availability...). Entry points map each class to a stable problem type.
* ``PortError`` -- what every adapter translates its driver's errors into, so that use cases
  never see a driver exception. ``SlotUnavailable`` is both: a database constraint that fires
  *is* the business rule "this time is taken".
"""

from __future__ import annotations

from datetime import datetime


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class InvalidValue(DomainError, ValueError):
    """A value object or entity was given a value it cannot hold."""


class IllegalTransition(DomainError):
    """An appointment was asked to move to a state its current state does not lead to."""

    def __init__(self, appointment_id: str, current: str, action: str) -> None:
        super().__init__(f"appointment {appointment_id} is {current}; it cannot be {action}")
        self.appointment_id = appointment_id
        self.current = current
        self.action = action


class AccessDenied(DomainError):
    """The actor may not do this to this resource (role or ownership)."""


class BookingRuleViolation(DomainError):
    """A requested time breaks one of the doctor's booking rules."""


class InThePast(BookingRuleViolation):
    """The requested start is not in the future."""


class TooShortNotice(BookingRuleViolation):
    """The requested start is sooner than the doctor's minimum notice."""


class BeyondHorizon(BookingRuleViolation):
    """The requested start is further ahead than the doctor's booking horizon."""


class OutsideAvailability(BookingRuleViolation):
    """The requested time does not lie inside the doctor's working hours."""


class OffGrid(BookingRuleViolation):
    """The requested start is inside working hours but not on the slot grid."""


class InvalidDuration(BookingRuleViolation):
    """The requested length is not a positive whole number of the doctor's slots."""


class NotAcceptingBookings(BookingRuleViolation):
    """The doctor has closed their calendar, or has no availability defined."""


class HoldExpired(DomainError):
    """The hold lapsed before it was confirmed; the time has been released."""


class CancellationNotAllowed(DomainError):
    """The cancellation policy does not let this actor cancel now."""


class PortError(Exception):
    """Base of the errors adapters raise instead of their drivers' errors."""


class NotFound(PortError, DomainError):
    """No record with that identity exists (or the actor may not know it does)."""


class Conflict(PortError):
    """The write collides with existing data (a uniqueness rule)."""


class AlreadyExists(Conflict):
    """A record with this identity or unique key is already stored."""


class SlotUnavailable(Conflict, DomainError):
    """The time collides with another active appointment of the doctor or of the patient.

    Raised by the storage itself (constraint, conditional write), never by a Python pre-check.
    """


class ConcurrencyError(PortError):
    """The record changed since it was read (optimistic concurrency); re-read and retry."""


class BackendUnavailable(PortError):
    """The backing service cannot be reached or refused to work; the caller may retry later."""


# -- identity -------------------------------------------------------------------------------


class AuthenticationFailed(DomainError):
    """Wrong e-mail, password or second factor. Deliberately one error for all of them, so the
    answer never tells which part was wrong or whether the account exists."""


class EmailNotVerified(DomainError):
    """The password was right, but the e-mail address has not been verified yet."""


class SecondFactorRequired(DomainError):
    """The password was right; the account has two-factor sign-in: send the TOTP code too."""


class SecondFactorEnrollmentRequired(DomainError):
    """Policy requires two-factor sign-in for this role and the account has not set it up."""


class TooManyAttempts(DomainError):
    """Sign-in is locked for a while after repeated failures."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many attempts; retry after {retry_after_seconds} seconds")
        self.retry_after_seconds = retry_after_seconds


class InvalidOneTimeSecret(DomainError):
    """A verification code, reset token or set-password link that is wrong, used, expired or
    out of attempts. One error for all, so guessing learns nothing."""


class WalkInClaimRefused(DomainError):
    """A walk-in's profile cannot be claimed (or given a claim code): it was claimed already,
    it belongs to an account, or the claiming account's own profile is in use."""


class RefreshTokenReused(DomainError):
    """A refresh token was presented after it had been rotated or revoked: the whole family of
    tokens is revoked, since someone else may hold a copy."""


class WeakPassword(InvalidValue):
    """The password does not meet the minimum strength rule."""


class IdempotencyKeyReused(DomainError):
    """The idempotency key was already used for a different request."""


# -- payments -------------------------------------------------------------------------------


class IllegalPaymentTransition(DomainError):
    """A payment was asked to move to a state its current state does not lead to."""

    def __init__(self, payment_id: str, current: str, action: str) -> None:
        super().__init__(f"payment {payment_id} is {current}; it cannot be {action}")
        self.payment_id = payment_id
        self.current = current
        self.action = action


class RefundExceedsPayment(DomainError):
    """A refund would give back more than was taken (in total, or by one method)."""


class PaymentNotAllowed(DomainError):
    """This appointment cannot be paid now (it is not held, its hold lapsed, it was cancelled,
    or the method is not accepted here)."""


class PaymentAlreadyStarted(DomainError):
    """The appointment already has a payment under way with another method."""


class InsufficientFunds(Conflict, DomainError):
    """The wallet's balance would go below zero.

    Raised by the wallet ledger itself (an atomic conditional write), never by a Python
    pre-check, like ``SlotUnavailable`` for the calendar.
    """


class IllegalStateChange(DomainError):
    """A transfer or a claim was asked to move to a state its current state does not lead to."""

    def __init__(self, what: str, current: str, action: str) -> None:
        super().__init__(f"{what} is {current}; it cannot be {action}")
        self.current = current
        self.action = action


class NoBedAvailable(Conflict, DomainError):
    """Every bed of that type in that ward is occupied (or the ward has none of that type)."""


class ReviewNotAllowed(DomainError):
    """The visit cannot be reviewed (not completed, or its review window has closed)."""


class WebhookRejected(DomainError):
    """A webhook's body or signature is missing, malformed, forged or too old."""


# -- documents ------------------------------------------------------------------------------


class TooLarge(DomainError):
    """An upload is over the size limit; nothing of it is stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is over the {limit}-byte limit")
        self.limit = limit


class UnsupportedMediaType(DomainError):
    """An upload's content is not of a type we accept (whatever type it was declared as)."""


# -- telemedicine ---------------------------------------------------------------------------


class RoomUnavailable(DomainError):
    """A consultation room refuses entry (or a ticket to it) now."""


class NotTelemedicine(RoomUnavailable):
    """The appointment is an in-person visit: it has no consultation room."""


class RoomNotOpen(RoomUnavailable):
    """The room opens a set time before the visit starts; it is earlier than that."""


class RoomClosed(RoomUnavailable):
    """The room's window has passed, or the appointment is not (or no longer) booked."""


class AppointmentCancelledRoom(RoomClosed):
    """The appointment was cancelled: its room never opens."""


class InvalidRoomTicket(DomainError):
    """A room ticket that cannot admit anyone; the subclasses say why (each has its own
    WebSocket close code, see docs/telemedicine.md)."""


class RoomTicketUnknown(InvalidRoomTicket):
    """No such ticket (never issued, or for another room)."""


class RoomTicketUsed(InvalidRoomTicket):
    """The ticket was already presented once: tickets are single-use."""


class RoomTicketExpired(InvalidRoomTicket):
    """The ticket's short lifetime is over; ask the API for a new one."""


class TimeOffCollides(DomainError):
    """Time off asked for covers booked or held appointments (issue 17): ``collisions`` lists
    each as ``(appointment id, start)``; ask again with ``cancel_bookings`` to cancel them."""

    def __init__(self, collisions: tuple[tuple[str, datetime], ...]) -> None:
        self.collisions = collisions
        listed = ", ".join(f"{key} at {start.isoformat()}" for key, start in collisions)
        super().__init__(f"the time off covers {len(collisions)} appointment(s): {listed}")


class SeriesConflict(DomainError):
    """A recurring series (issue 17) could not be booked whole, so none of it was:
    ``refusals`` lists every occurrence refused as ``(start, reason)`` -- ``taken`` (the
    doctor's or the patient's time is occupied) or the booking rule it breaks
    (``outside-availability``, ``in-the-past``...)."""

    def __init__(self, refusals: tuple[tuple[datetime, str], ...]) -> None:
        self.refusals = refusals
        listed = ", ".join(f"{start.isoformat()} ({reason})" for start, reason in refusals)
        super().__init__(f"{len(refusals)} occurrence(s) of the series cannot be booked: {listed}")
