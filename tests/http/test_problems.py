"""Every error class of the domain and its ports has a problem type; rule violations each
their own."""

from __future__ import annotations

import inspect

import falcon
import falcon.testing

from hellodoctor_domain import errors
from hellodoctor_http import problems


def _domain_errors() -> list[type[Exception]]:
    return [
        kind
        for _, kind in inspect.getmembers(errors, inspect.isclass)
        if issubclass(kind, errors.DomainError | errors.PortError)
    ]


def _slug(kind: type[Exception]) -> str:
    return next(problems.ERROR_PROBLEMS[k] for k in kind.__mro__ if k in problems.ERROR_PROBLEMS)


def test_every_error_class_has_a_problem_type() -> None:
    found = _domain_errors()
    assert errors.SlotUnavailable in found  # the walk found the module's classes
    unmapped = [kind.__name__ for kind in found if kind not in problems.ERROR_PROBLEMS]
    assert not unmapped, f"map these in problems.ERROR_PROBLEMS: {unmapped}"


def test_each_booking_rule_has_its_own_type_and_status_422() -> None:
    rules = [k for k in _domain_errors() if issubclass(k, errors.BookingRuleViolation)]
    slugs = [_slug(kind) for kind in rules]
    assert len(set(slugs)) == len(rules)
    assert all(problems.PROBLEMS[slug].status == 422 for slug in slugs)


def test_statuses_of_the_main_errors() -> None:
    expected = {
        errors.SlotUnavailable: 409,
        errors.NotFound: 404,
        errors.AccessDenied: 403,
        errors.IllegalTransition: 409,
        errors.HoldExpired: 409,
        errors.CancellationNotAllowed: 409,
        errors.ConcurrencyError: 409,
        errors.BackendUnavailable: 503,
        errors.InvalidValue: 422,
        errors.TooManyAttempts: 429,
    }
    assert {kind: problems.PROBLEMS[_slug(kind)].status for kind in expected} == expected


def test_port_errors_do_not_leak_driver_text_and_advise_a_retry() -> None:
    app = falcon.App()
    problems.install(app)

    class Boom:
        def on_get(self, _req: falcon.Request, _resp: falcon.Response) -> None:
            raise errors.ConcurrencyError('UPDATE "appointments" SET ... serialization failure')

    app.add_route("/boom", Boom())
    result = falcon.testing.TestClient(app).simulate_get("/boom")
    assert result.status_code == 409
    assert "appointments" not in result.text
    assert result.headers["retry-after"] == "1"
    assert result.json["type"] == "https://hellodoctor.dev/problems/concurrent-update"
