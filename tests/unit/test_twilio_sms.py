"""The Twilio adapter drives the real SDK; the SDK's HTTP client is injected and records what
would go over the wire, answering as Twilio's API does (no network)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from twilio.http import HttpClient
from twilio.http.response import Response

from hellodoctor_adapters.sms import TwilioSms
from hellodoctor_domain.errors import BackendUnavailable
from hellodoctor_domain.model.notifications import PhoneNumber
from hellodoctor_domain.ports.notifications import SmsMessage

SID = "AC" + "0" * 32
MESSAGE = SmsMessage(PhoneNumber("+447911123456"), "HelloDoctor: confirmed.", "appointment-booked")


class RecordingTwilio(HttpClient):  # type: ignore[misc]
    """Keeps each request and answers with ``status`` and a Twilio-shaped body."""

    def __init__(self, status: int = 201, body: dict[str, Any] | None = None) -> None:
        super().__init__(logger=None, is_async=False)
        self.requests: list[dict[str, Any]] = []
        self.status = status
        self.body = body

    def request(self, method: str, uri: str, **options: Any) -> Response:
        self.requests.append({"method": method, "uri": uri, **options})
        data = options.get("data") or {}
        body = self.body or {
            "sid": "SM" + "1" * 32,
            "account_sid": SID,
            "to": data.get("To"),
            "from": data.get("From"),
            "body": data.get("Body"),
            "status": "queued",
        }
        return Response(self.status, json.dumps(body))


def test_a_message_is_posted_to_the_accounts_messages_with_the_sender() -> None:
    wire = RecordingTwilio()
    TwilioSms(SID, "secret-token", "+15005550006", http_client=wire).send(MESSAGE)
    (sent,) = wire.requests
    assert sent["method"] == "POST"
    assert sent["uri"] == f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
    assert sent["data"]["To"] == "+447911123456"
    assert sent["data"]["From"] == "+15005550006"
    assert sent["data"]["Body"] == "HelloDoctor: confirmed."
    assert sent["auth"] == (SID, "secret-token")


def test_a_messaging_service_sends_instead_of_a_number() -> None:
    wire = RecordingTwilio()
    TwilioSms(SID, "secret-token", "MG" + "2" * 32, http_client=wire).send(MESSAGE)
    (sent,) = wire.requests
    assert sent["data"]["MessagingServiceSid"] == "MG" + "2" * 32
    assert "From" not in sent["data"]


@pytest.mark.parametrize("status", [400, 429, 500])
def test_twilio_refusing_is_backend_unavailable_with_its_reason(status: int) -> None:
    refusal = {"code": 21211, "message": "The 'To' number is not valid.", "status": status}
    wire = RecordingTwilio(status, refusal)
    with pytest.raises(BackendUnavailable, match="not valid") as raised:
        TwilioSms(SID, "secret-token", "+15005550006", http_client=wire).send(MESSAGE)
    assert str(status) in str(raised.value)
