"""Amounts sent to Stripe: its smallest unit differs from ISO 4217's minor unit for a few
currencies (zero-decimal at Stripe, ISK with two decimals)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hellodoctor_adapters.stripe.gateway import from_stripe_amount, to_stripe_amount
from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.values import MINOR_UNIT_EXPONENTS, Money


@pytest.mark.parametrize(
    ("money", "stripe_amount"),
    [
        (Money(5000, "EUR"), 5000),  # 50.00 EUR is 5000 cents at both
        (Money(3000, "JPY"), 3000),  # yen have no minor unit anywhere
        (Money(1000, "MGA"), 10),  # ISO counts ariary in hundredths, Stripe in whole ariary
        (Money(500, "ISK"), 50000),  # ISO: whole krónur; Stripe: two decimals
        (Money(1230, "KWD"), 1230),  # three decimals at both
    ],
)
def test_known_currencies(money: Money, stripe_amount: int) -> None:
    assert to_stripe_amount(money) == stripe_amount
    assert from_stripe_amount(stripe_amount, money.currency.lower()) == money


def test_an_amount_stripe_cannot_express_is_refused_not_rounded() -> None:
    with pytest.raises(InvalidValue):
        to_stripe_amount(Money(1050, "MGA"))  # 10.50 ariary


@given(
    currency=st.sampled_from(sorted(MINOR_UNIT_EXPONENTS)),
    whole=st.integers(min_value=0, max_value=10**9),
)
def test_whole_amounts_round_trip_in_every_currency(currency: str, whole: int) -> None:
    money = Money(whole * 10 ** MINOR_UNIT_EXPONENTS[currency], currency)
    assert from_stripe_amount(to_stripe_amount(money), currency) == money
