"""Paying a held appointment by card through Stripe Elements, offered only when the clinic
takes cards through Stripe (``Components.cards_accepted``) and its publishable key is set
(``HELLODOCTOR_STRIPE_PUBLISHABLE_KEY``). ``POST /appointments/{id}/card`` starts (or resumes)
the card payment through ``Billing.start_payment`` as the API does and shows the card form:
Stripe.js (from js.stripe.com) and the package's ``static/card.js`` confirm the payment with
the intent's client secret, which the page carries in ``data-`` attributes (no inline
script). The payment is paid when Stripe's signed webhook says so, as for the API.

Only this page's Content-Security-Policy admits Stripe (``STRIPE_CSP``, set through
``resp.context.portal_csp``): every other page keeps the strict one."""

from __future__ import annotations

import falcon

from hellodoctor_domain.errors import DomainError, NotFound, PortError
from hellodoctor_domain.model.payments import PaymentMethod
from hellodoctor_domain.model.values import AppointmentId, Role
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.portal.pages import Page, PageError

STRIPE_JS = "https://js.stripe.com/v3/"
STRIPE_CSP = (
    "default-src 'none'; script-src 'self' https://js.stripe.com; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self' https://api.stripe.com; "
    "frame-src https://js.stripe.com https://hooks.stripe.com; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)


def card_key(components: Components) -> str | None:
    """The publishable key when card payments are taken through Stripe, else None."""
    key = components.settings.stripe_publishable_key
    return key if key and components.cards_accepted else None


class CardPayment(Page):
    def on_post(self, req: falcon.Request, resp: falcon.Response, appointment_id: str) -> None:
        actor = self.require(req, Role.PATIENT)
        self.form(req)
        key = card_key(self.components)
        if key is None:
            raise PageError(404, "This clinic does not take cards online.")
        try:
            started = self.components.billing.start_payment(
                actor, AppointmentId(appointment_id), PaymentMethod.CARD
            )
        except NotFound:
            raise PageError(404, "There is no such appointment.") from None
        except (DomainError, PortError) as error:
            raise PageError(409, f"That was refused: {error}") from None
        if started.client_secret is None:  # nothing left for the card to do
            self.redirect(resp, f"/appointments/{appointment_id}")
            return
        resp.context.portal_csp = STRIPE_CSP
        self.render(
            req,
            resp,
            "card.html",
            payment=started.payment,
            appointment_id=appointment_id,
            publishable_key=key,
            client_secret=started.client_secret,
            stripe_js=STRIPE_JS,
        )
