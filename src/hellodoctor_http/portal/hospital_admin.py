"""A hospital administrator's pages (platform admins see every hospital's): the beds of each
ward (capacity, occupied, free) with the stays, admitting and discharging a patient; the
transfers into and out of the hospital (request one; accept, decline, complete, cancel);
and insurance claims for a stay (submit one, see one).

They call the use cases ``/api/v1/hospitals/{id}/...``, ``/api/v1/transfers`` and
``/api/v1/insurance/claims`` call (``Hospitals``, ``Transfers``, ``Insurance``): a hospital
the account does not administer, a transfer of other hospitals or a claim it may not see is
404, as over the API; a doctor, patient or receptionist is 403.
"""

from __future__ import annotations

from collections.abc import Callable

import falcon

from hellodoctor_domain.errors import (
    AccessDenied,
    DomainError,
    InvalidValue,
    NotFound,
    PortError,
)
from hellodoctor_domain.model.hospitals import BedType, Hospital
from hellodoctor_domain.model.insurance import ClaimItem
from hellodoctor_domain.model.transfers import Transfer
from hellodoctor_domain.model.values import (
    Actor,
    ClaimId,
    HospitalId,
    Money,
    PatientId,
    PolicyId,
    Role,
    TransferId,
)
from hellodoctor_domain.use_cases.hospitals import Admission
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.portal.pages import Page, PageError

HOSPITAL_ROLES = (Role.HOSPITAL_ADMIN, Role.ADMIN)
MAX_ID = 128


def _refused(error: Exception) -> PageError:
    if isinstance(error, NotFound):
        return PageError(404, "There is no such hospital, patient, ward or transfer.")
    if isinstance(error, AccessDenied):
        return PageError(403, "This page is not for your account.")
    if isinstance(error, InvalidValue):  # as the API: 422 invalid-value
        return PageError(422, f"That was refused: {error}")
    return PageError(409, f"That was refused: {error}")


def _managed(page: Page, actor: Actor, hospital_id: str) -> Hospital:
    """The hospital, when ``actor`` administers it (``Hospital.administered_by``, the rule
    the use cases apply); 404 otherwise."""
    try:
        hospital = page.components.hospitals.get(HospitalId(hospital_id))
    except NotFound:
        raise PageError(404, "There is no such hospital.") from None
    if not hospital.administered_by(actor):
        raise PageError(404, "There is no such hospital.")
    return hospital


def _bed_type(raw: str) -> BedType:
    try:
        return BedType(raw)
    except ValueError:
        raise PageError(422, "Choose a bed type.") from None


def _text(form: dict[str, str], name: str, longest: int = MAX_ID) -> str:
    value = form.get(name, "").strip()
    if not value or len(value) > longest:
        raise PageError(422, "Please fill in every field of the form.")
    return value


class HospitalHome(Page):
    """``GET /hospital``: the hospitals the account administers; one goes straight to it."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, *HOSPITAL_ROLES)
        mine = [h for h in self.components.hospitals.in_city() if h.administered_by(actor)]
        if len(mine) == 1 and actor.role is not Role.ADMIN:
            raise falcon.HTTPSeeOther(f"/hospital/{mine[0].id.value}")
        self.render(req, resp, "hospital_home.html", hospitals=mine)


# -- beds and stays --------------------------------------------------------------------------


class HospitalBeds(Page):
    """``GET /hospital/{id}``: beds per ward and type, the open stays (discharge), admit."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = self.require(req, *HOSPITAL_ROLES)
        hospital = _managed(self, actor, hospital_id)
        hospitals = self.components.hospitals
        try:
            stays = hospitals.admissions(actor, hospital.id)
            beds = hospitals.beds(hospital.id)
        except (DomainError, PortError) as error:
            raise _refused(error) from None
        self.render(
            req,
            resp,
            "hospital_beds.html",
            hospital=hospital,
            beds=beds,
            wards={w.code: w.name for w in hospital.wards},
            open_stays=[s for s in stays if s.is_open],
            closed=sum(1 for s in stays if not s.is_open),
            bed_types=[t.value for t in BedType],
            zone=_zone(self, req),
            notice=req.get_param("notice"),
        )


class _StayChange(Page):
    """``POST /hospital/{id}/admissions`` or ``/discharges``: patient, ward, bed type."""

    notice = ""

    def change(self, components: Components, actor: Actor, admission: Admission) -> None:
        raise NotImplementedError

    def on_post(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = self.require(req, *HOSPITAL_ROLES)
        form = self.form(req)
        hospital = _managed(self, actor, hospital_id)
        admission = Admission(
            hospital.id,
            _text(form, "ward_code"),
            _bed_type(form.get("bed_type", "")),
            PatientId(_text(form, "patient_id")),
        )
        try:
            self.change(self.components, actor, admission)
        except (DomainError, PortError) as error:
            raise _refused(error) from None
        self.redirect(resp, f"/hospital/{hospital_id}", self.notice)


class Admit(_StayChange):
    notice = "admitted"

    def change(self, components: Components, actor: Actor, admission: Admission) -> None:
        components.hospitals.admit(actor, admission)


class Discharge(_StayChange):
    notice = "discharged"

    def change(self, components: Components, actor: Actor, admission: Admission) -> None:
        components.hospitals.discharge(actor, admission)


# -- transfers -------------------------------------------------------------------------------


class HospitalTransfers(Page):
    """``GET /hospital/{id}/transfers``: into and out of the hospital; ``POST``: request
    one from this hospital to another."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = self.require(req, *HOSPITAL_ROLES)
        hospital = _managed(self, actor, hospital_id)
        try:
            found = self.components.transfers.of_hospital(actor, hospital.id)
        except (DomainError, PortError) as error:
            raise _refused(error) from None
        others = [h for h in self.components.hospitals.in_city() if h.id != hospital.id]
        self.render(
            req,
            resp,
            "hospital_transfers.html",
            hospital=hospital,
            transfers=sorted(found, key=lambda t: _requested_at(t), reverse=True),
            others=sorted(others, key=lambda h: h.name),
            wards=[w.code for w in hospital.wards],
            bed_types=[t.value for t in BedType],
            zone=_zone(self, req),
            notice=req.get_param("notice"),
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = self.require(req, *HOSPITAL_ROLES)
        form = self.form(req)
        hospital = _managed(self, actor, hospital_id)
        try:
            self.components.transfers.request(
                actor,
                PatientId(_text(form, "patient_id")),
                hospital.id,
                HospitalId(_text(form, "to_hospital_id")),
                _bed_type(form.get("bed_type", "")),
                _text(form, "reason", 500),
            )
        except (DomainError, PortError) as error:
            raise _refused(error) from None
        self.redirect(resp, f"/hospital/{hospital_id}/transfers", "transfer-requested")


def _requested_at(transfer: Transfer) -> str:
    return transfer.history[0].at.isoformat() if transfer.history else ""


# action in the URL -> the use case it calls (with the form's ward code or reason)
TRANSFER_ACTIONS: dict[str, Callable[[Components, Actor, TransferId, dict[str, str]], Transfer]] = {
    "accept": lambda c, a, key, f: c.transfers.accept(a, key, _text(f, "ward_code")),
    "decline": lambda c, a, key, f: c.transfers.decline(a, key, _text(f, "reason", 500)),
    "complete": lambda c, a, key, f: c.transfers.complete(a, key),
    "cancel": lambda c, a, key, f: c.transfers.cancel(a, key, _text(f, "reason", 500)),
}


class TransferAct(Page):
    """``POST /hospital/transfers/{id}/{action}``: back to the hospital the form came from."""

    def on_post(
        self, req: falcon.Request, resp: falcon.Response, transfer_id: str, action: str
    ) -> None:
        actor = self.require(req, *HOSPITAL_ROLES)
        form = self.form(req)
        act = TRANSFER_ACTIONS.get(action)
        if act is None:
            raise PageError(404, "There is no such page.")
        try:
            transfer = act(self.components, actor, TransferId(transfer_id), form)
        except (DomainError, PortError) as error:
            raise _refused(error) from None
        sides = {transfer.from_hospital_id.value, transfer.to_hospital_id.value}
        back = form.get("hospital_id", "")
        back = back if back in sides else transfer.to_hospital_id.value
        self.redirect(resp, f"/hospital/{back}/transfers", f"transfer-{action}")


# -- insurance claims ------------------------------------------------------------------------


class HospitalClaims(Page):
    """``GET /hospital/{id}/claims``: the claim form and "open a claim by its id";
    ``POST``: claim for a patient's stay (``Insurance.claim_stay``)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = self.require(req, *HOSPITAL_ROLES)
        hospital = _managed(self, actor, hospital_id)
        chosen = (req.get_param("claim_id") or "").strip()[:MAX_ID]
        if chosen:
            raise falcon.HTTPSeeOther(f"/hospital/claims/{falcon.uri.encode_value(chosen)}")
        self.render(
            req,
            resp,
            "hospital_claims.html",
            hospital=hospital,
            currencies=self.components.settings.currencies,
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = self.require(req, *HOSPITAL_ROLES)
        form = self.form(req)
        hospital = _managed(self, actor, hospital_id)
        try:
            amount = round(float(_text(form, "amount", 20)) * 100)
        except ValueError:
            raise PageError(422, "Give the amount claimed, e.g. 1200.00.") from None
        codes = tuple(c.strip().upper() for c in form.get("diagnosis_codes", "").split(",") if c)
        try:
            item = ClaimItem(
                _text(form, "service", 500),
                codes[:20],
                Money(amount, _text(form, "currency", 3).upper()),
            )
            claim = self.components.insurance.claim_stay(
                actor, hospital.id, PolicyId(_text(form, "policy_id")), [item]
            )
        except (DomainError, PortError) as error:
            if isinstance(error, NotFound):
                raise PageError(404, "There is no such policy.") from None
            raise _refused(error) from None
        self.redirect(resp, f"/hospital/claims/{claim.id.value}", "claim-submitted")


class ClaimPage(Page):
    """``GET /hospital/claims/{id}``: a claim the account may see (``Insurance.claim``)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, claim_id: str) -> None:
        actor = self.require(req, *HOSPITAL_ROLES)
        try:
            claim = self.components.insurance.claim(actor, ClaimId(claim_id))
        except NotFound:
            raise PageError(404, "There is no such claim.") from None
        self.render(
            req,
            resp,
            "hospital_claim.html",
            claim=claim,
            zone=_zone(self, req),
            notice=req.get_param("notice"),
        )


def _zone(page: Page, req: falcon.Request) -> str | None:
    found = page.session(req)
    return None if found is None else found.zone
