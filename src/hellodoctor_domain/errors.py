"""Typed errors of the domain and of its ports.

Two families:

* ``DomainError`` -- a rule of the business refused the request (bad value, illegal transition,
  a booking outside availability...). Entry points map each class to a stable problem type.
* ``PortError`` -- what every adapter translates its driver's errors into, so that use cases
  never see a driver exception. ``SlotUnavailable`` is both: a database constraint that fires
  *is* the business rule "this time is taken".
"""

from __future__ import annotations


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
