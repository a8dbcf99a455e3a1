"""A patient's wallet: the balance and ledger in each of the clinic's currencies, and their
payment history (payments and the refunds each gave), through ``Billing`` as the API does.
Paying a booking (at the clinic or from the wallet) is on the appointment page."""

from __future__ import annotations

import falcon

from hellodoctor_domain.model.values import Role
from hellodoctor_domain.ports.payments import PaymentQuery
from hellodoctor_http.portal.pages import Page

MAX_PAYMENTS = 100


class WalletPage(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, Role.PATIENT)
        assert actor.patient_id is not None
        billing = self.components.billing
        wallets = [
            billing.wallet(actor, actor.patient_id, currency)
            for currency in self.components.settings.currencies
        ]
        payments = billing.payment_history(
            actor, actor.patient_id, PaymentQuery(patient_id=actor.patient_id, limit=MAX_PAYMENTS)
        )
        found = self.session(req)
        self.render(
            req,
            resp,
            "wallet.html",
            wallets=wallets,
            payments=payments,
            zone=found.zone if found else None,
        )
