"""Where a staff account works: a hospital administrator's account is appointed to its
hospital, an insurer's to its scheme, in the unit of work that makes the account
(``Identity.invite_staff`` over the API, ``Identity.create_admin`` from the command line)."""

from __future__ import annotations

from datetime import datetime

from attrs import define

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.values import HospitalId, Role, SchemeId, UserId
from hellodoctor_domain.ports.unit_of_work import UnitOfWork


@define(frozen=True)
class StaffPlace:
    """A hospital (the account administers it) or an insurance scheme (the account reviews
    its claims): exactly one of the two."""

    hospital_id: HospitalId | None = None
    scheme_id: SchemeId | None = None

    def __attrs_post_init__(self) -> None:
        if (self.hospital_id is None) == (self.scheme_id is None):
            raise InvalidValue("a staff account works at one hospital or for one scheme")

    @property
    def role(self) -> Role:
        return Role.HOSPITAL_ADMIN if self.hospital_id is not None else Role.INSURER

    def apply(self, uow: UnitOfWork, user_id: UserId, now: datetime) -> None:
        """Appoint ``user_id`` there (``NotFound`` for an unknown hospital or scheme)."""
        if self.hospital_id is not None:
            hospital = uow.hospitals.get(self.hospital_id)
            hospital.appoint(user_id, now)
            uow.hospitals.update(hospital)
            return
        assert self.scheme_id is not None
        scheme = uow.schemes.get(self.scheme_id)
        scheme.insurers = (*scheme.insurers, user_id)
        uow.schemes.update(scheme)
