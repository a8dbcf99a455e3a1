"""The portal's routes: server-rendered pages at ``/`` beside the API (``/api/v1``). They are
not API routes: ``app.ROUTES`` (and so ``/openapi.json`` and Schemathesis) never sees them.
Add a page: a resource class in its area module and one line here."""

from __future__ import annotations

from importlib import resources
from typing import Any

import falcon

from hellodoctor_http.bootstrap import Components
from hellodoctor_http.portal import (
    admin,
    cards,
    clinical,
    desk,
    health,
    hospital_admin,
    identity,
    patients,
    platform,
    practice,
    privacy,
    staff,
    waitlist,
    wallet,
)
from hellodoctor_http.portal.pages import Page, PageError, Portal, error_handler
from hellodoctor_http.portal.paths import STATIC_PREFIX, UPLOAD_PATH

PAGES: tuple[tuple[str, type[Page]], ...] = (
    ("/", identity.Home),
    ("/sign-up", identity.SignUp),
    ("/verify", identity.Verify),
    ("/sign-in", identity.SignIn),
    ("/sign-out", identity.SignOut),
    ("/forgot-password", identity.ForgotPassword),
    ("/set-password", identity.SetPassword),
    ("/doctors", patients.Doctors),
    ("/doctors/{doctor_id:id}", patients.DoctorPage),
    ("/appointments", patients.Appointments),
    ("/appointments/{appointment_id:id}", patients.AppointmentPage),
    ("/appointments/{appointment_id:id}/card", cards.CardPayment),
    ("/appointments/{appointment_id:id}/{action}", patients.AppointmentAct),
    ("/settings", patients.NotificationSettings),
    ("/settings/calendar-feed", patients.CalendarFeed),
    ("/wallet", wallet.WalletPage),
    ("/waitlist", waitlist.WaitlistPage),
    ("/waitlist/{entry_id:id}/{action}", waitlist.WaitlistAct),
    ("/records", health.Records),
    ("/records/{record_id:id}", health.RecordPage),
    (UPLOAD_PATH, health.Documents),
    ("/documents/{document_id:id}", health.DocumentPage),
    ("/documents/{document_id:id}/file", health.DocumentFile),
    ("/consents", privacy.Consents),
    ("/consents/{consent_id:id}/revoke", privacy.ConsentRevoke),
    ("/access-log", privacy.AccessLog),
    ("/doctor/day", staff.DoctorDay),
    ("/doctor/appointments/{appointment_id:id}/{action}", staff.DoctorAct),
    ("/admin/doctors/new", staff.InviteDoctor),
    # Staff pages (issue 19 items 3 and 4): practice.py, desk.py, admin.py.
    ("/doctor/week", practice.DoctorWeek),
    ("/doctor/availability", practice.AvailabilityEditor),
    ("/doctor/time-off", practice.TimeOffPage),
    ("/doctor/reviews", practice.DoctorReviews),
    ("/doctor/reviews/{review_id:id}/reply", practice.ReviewReply),
    ("/doctor/analytics", admin.DoctorAnalytics),
    ("/desk", desk.DeskHome),
    ("/desk/{hospital_id:id}", desk.DeskPage),
    ("/desk/{hospital_id:id}/walk-ins", desk.WalkIns),
    ("/desk/{hospital_id:id}/book", desk.DeskBook),
    ("/desk/{hospital_id:id}/day", desk.DeskDay),
    ("/desk/{hospital_id:id}/waiting-room", desk.WaitingRoom),
    ("/desk/appointments/{appointment_id:id}/{action}", desk.DeskAct),
    ("/admin/dead-letters", admin.DeadLetters),
    ("/admin/dead-letters/{entry_id:id}/retry", admin.DeadLetterRetry),
    ("/admin/audit-log", admin.AuditSearch),
    ("/admin/analytics", admin.AdminAnalytics),
    # Records and prescriptions, hospitals, payments (issue 19): clinical.py, hospital_admin.py,
    # platform.py.
    ("/doctor/patients", clinical.PatientLookup),
    ("/doctor/patients/{patient_id:id}", clinical.PatientChart),
    ("/doctor/patients/{patient_id:id}/records/{record_id:id}", clinical.PatientRecordPage),
    ("/hospital", hospital_admin.HospitalHome),
    ("/hospital/{hospital_id:id}", hospital_admin.HospitalBeds),
    ("/hospital/{hospital_id:id}/admissions", hospital_admin.Admit),
    ("/hospital/{hospital_id:id}/discharges", hospital_admin.Discharge),
    ("/hospital/{hospital_id:id}/transfers", hospital_admin.HospitalTransfers),
    ("/hospital/transfers/{transfer_id:id}/{action}", hospital_admin.TransferAct),
    ("/hospital/{hospital_id:id}/claims", hospital_admin.HospitalClaims),
    ("/hospital/claims/{claim_id:id}", hospital_admin.ClaimPage),
    ("/admin/hospitals", platform.HospitalsAdmin),
    ("/admin/payments", platform.PaymentsAdmin),
)


def mount(app: falcon.App[Any, Any], components: Components) -> None:
    portal = Portal.build(components)
    for template, resource in PAGES:
        app.add_route(template, resource(portal))
    app.add_error_handler(PageError, error_handler(portal))
    static = resources.files("hellodoctor_http.portal") / "static"
    app.add_static_route(STATIC_PREFIX, str(static))
