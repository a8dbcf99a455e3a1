"""Platform administrators' pages: the hospitals (list, by city; register one with its first
ward) and every payment with its refunds (filtered by status, purpose, method and patient,
paged newest first).

They call what ``/api/v1/hospitals`` and ``/api/v1/payments`` call (``Hospitals.register``,
``Billing.all_payments``). A refund is never made here: the API offers none outside a
cancellation (the cancellation policy's refund, ``/appointments/{id}/cancel``), so neither
does the portal.
"""

from __future__ import annotations

from datetime import datetime

import falcon

from hellodoctor_domain.errors import DomainError, PortError
from hellodoctor_domain.model.hospitals import Address, BedType, Hospital, Ward, WardBeds
from hellodoctor_domain.model.payments import (
    PaymentId,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
)
from hellodoctor_domain.model.values import EmailAddress, HospitalId, PatientId, Role
from hellodoctor_domain.ports.payments import PaymentQuery
from hellodoctor_http.portal.pages import Page, PageError

PAYMENTS_PAGE = 50
MAX_ID = 128
HOSPITAL_FIELDS = (
    "name",
    "registration_number",
    "line",
    "city",
    "country",
    "latitude",
    "longitude",
    "phone",
    "email",
    "ward_code",
    "ward_name",
    "bed_type",
    "capacity",
)
REQUIRED = ("name", "registration_number", "line", "city", "country", "phone")


class HospitalsAdmin(Page):
    """``GET /admin/hospitals``: every hospital (or one city's); ``POST``: register one."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.require(req, Role.ADMIN)
        self._show(req, resp, {}, {}, 200)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, Role.ADMIN)
        form = self.form(req)
        values = {k: form.get(k, "").strip() for k in HOSPITAL_FIELDS}
        errors: dict[str, str] = {}
        hospital = _hospital(values, HospitalId(f"hosp-{self.components.ids.new_id()}"), errors)
        if hospital is not None:
            try:
                self.components.hospitals.register(actor, hospital)
            except (DomainError, PortError) as error:
                errors["form"] = str(error)
        if errors:
            self._show(req, resp, values, errors, 422)
            return
        self.redirect(resp, "/admin/hospitals", "hospital-registered")

    def _show(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        values: dict[str, str],
        errors: dict[str, str],
        status: int,
    ) -> None:
        city = (req.get_param("city") or "").strip()[:200]
        found = self.components.hospitals.in_city(city or None)
        self.render(
            req,
            resp,
            "admin_hospitals.html",
            status=status,
            hospitals=sorted(found, key=lambda h: (h.address.city, h.name)),
            city=city,
            values=values,
            errors=errors,
            bed_types=[t.value for t in BedType],
            notice=req.get_param("notice"),
        )


def _hospital(values: dict[str, str], key: HospitalId, errors: dict[str, str]) -> Hospital | None:
    """The hospital the form describes, with its first ward when one is named (more wards,
    departments and facilities: ``POST /api/v1/hospitals``)."""
    for name in REQUIRED:
        if not values[name]:
            errors[name] = "required"
    coordinates = []
    for name, bound in (("latitude", 90), ("longitude", 180)):
        try:
            number = float(values[name] or "0")
            if not -bound <= number <= bound:
                raise ValueError
            coordinates.append(number)
        except ValueError:
            errors[name] = "number"
    email = None
    if values["email"]:
        try:
            email = EmailAddress(values["email"])
        except DomainError:
            errors["email"] = "email"
    wards: tuple[Ward, ...] = ()
    if values["ward_code"] or values["ward_name"]:
        try:
            capacity = int(values["capacity"] or "0")
            if not 0 <= capacity <= 100_000:
                raise ValueError
            wards = (
                Ward(
                    values["ward_code"],
                    values["ward_name"],
                    (WardBeds(BedType(values["bed_type"]), capacity),),
                ),
            )
        except (ValueError, DomainError):
            errors["ward"] = "ward"
    if errors:
        return None
    try:
        return Hospital(
            key,
            values["name"],
            values["registration_number"],
            Address(values["line"], values["city"], values["country"], *coordinates),
            values["phone"],
            email=email,
            wards=wards,
        )
    except DomainError as error:
        errors["form"] = str(error)
        return None


# -- payments ----------------------------------------------------------------------------------


def _choice(
    req: falcon.Request, name: str, kind: type[PaymentStatus | PaymentPurpose | PaymentMethod]
) -> str:
    raw = (req.get_param(name) or "").strip()[:40]
    if raw and raw not in {k.value for k in kind}:
        raise PageError(422, "Choose one of the listed values.")
    return raw


class PaymentsAdmin(Page):
    """``GET /admin/payments``: every payment, newest first, filtered; ``before_at`` and
    ``before_id`` (the last row shown) page on."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, Role.ADMIN)
        chosen = {
            "status": _choice(req, "status", PaymentStatus),
            "purpose": _choice(req, "purpose", PaymentPurpose),
            "method": _choice(req, "method", PaymentMethod),
            "patient_id": (req.get_param("patient_id") or "").strip()[:MAX_ID],
        }
        before = None
        raw_at, raw_id = req.get_param("before_at"), req.get_param("before_id")
        if raw_at and raw_id:
            try:
                before = (datetime.fromisoformat(raw_at[:40]), PaymentId(raw_id[:MAX_ID]))
            except ValueError:
                raise PageError(422, "That is not a page of the payments.") from None
            if before[0].tzinfo is None:
                raise PageError(422, "That is not a page of the payments.")
        query = PaymentQuery(
            patient_id=PatientId(chosen["patient_id"]) if chosen["patient_id"] else None,
            statuses=frozenset({PaymentStatus(chosen["status"])}) if chosen["status"] else None,
            purpose=PaymentPurpose(chosen["purpose"]) if chosen["purpose"] else None,
            method=PaymentMethod(chosen["method"]) if chosen["method"] else None,
            before=before,
            limit=PAYMENTS_PAGE + 1,  # one more: whether an older page follows
        )
        try:
            found = self.components.billing.all_payments(actor, query)
        except (DomainError, PortError) as error:
            raise PageError(422, f"That was refused: {error}") from None
        shown = found[:PAYMENTS_PAGE]
        older = None
        if len(found) > PAYMENTS_PAGE:
            kept = {k: v for k, v in chosen.items() if v}
            last = shown[-1]
            older = falcon.to_query_str(
                {**kept, "before_at": last.created_at.isoformat(), "before_id": last.id.value}
            )
        self.render(
            req,
            resp,
            "admin_payments.html",
            payments=shown,
            chosen=chosen,
            statuses=[s.value for s in PaymentStatus],
            purposes=[p.value for p in PaymentPurpose],
            methods=[m.value for m in PaymentMethod],
            older=older,
            zone=_zone(self, req),
        )


def _zone(page: Page, req: falcon.Request) -> str | None:
    found = page.session(req)
    return None if found is None else found.zone
