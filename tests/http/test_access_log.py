"""The JSON access log never carries a secret a URL holds (docs/privacy.md): the emergency
card's token and the calendar feed's are logged as their route template."""

from __future__ import annotations

import json
import logging

import pytest

from hellodoctor_domain.model.values import PatientId
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.testing import Headers, ValidatingClient

API = "/api/v1"


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "hellodoctor.access"]


def test_a_cards_and_a_feeds_token_never_reach_the_access_log(
    client: ValidatingClient,
    components: Components,
    as_patient: Headers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with components.storage() as uow:
        patient = uow.patients.get(PatientId("pat-1"))
        patient.blood_group = "O-"
        uow.patients.update(patient)
        uow.commit()
    card = client.simulate_post(f"{API}/me/emergency-card", headers=as_patient())
    assert card.status_code == 201, card.json
    path = "/" + card.json["url"].split("://", 1)[1].split("/", 1)[1]
    token = path.rsplit("/", 1)[1]
    feed_token = "A" * 43
    with caplog.at_level(logging.INFO, logger="hellodoctor.access"):
        assert client.simulate_get(path).status_code == 200
        assert client.simulate_get(f"{API}/calendar/{feed_token}.ics").status_code == 404
        # A mistyped card URL matches no route: its long segment is not logged either.
        assert client.simulate_get(f"{API}/emergency-cards/{token}").status_code == 404
        assert client.simulate_get(f"{API}/me/emergency-card", headers=as_patient())
    lines = _lines(caplog)
    assert len(lines) == 4
    for line in lines:
        assert token not in json.dumps(line)
        assert feed_token not in json.dumps(line)
    assert lines[0]["path"] == f"{API}/emergency-card/{{token}}"
    assert lines[0]["status"] == 200
    assert lines[1]["path"] == f"{API}/calendar/{{token}}.ics"
    assert lines[2]["path"] == f"{API}/emergency-cards/{{redacted}}"
    # A path without a secret is logged as it is.
    assert lines[3]["path"] == f"{API}/me/emergency-card"
