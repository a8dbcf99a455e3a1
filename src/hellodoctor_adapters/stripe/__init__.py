"""Stripe adapter (the ``stripe`` extra): ``StripeGateway`` implements ``PaymentGateway`` with
PaymentIntents, refunds and signed webhooks. ``docs/payments.md`` has its configuration.
"""

from hellodoctor_adapters.stripe.gateway import StripeGateway

__all__ = ["StripeGateway"]
