"""Text messages through Twilio, with the official SDK.

``TwilioSms`` sends each ``SmsMessage`` with ``client.messages.create``. The SDK's HTTP client
is injectable (any ``twilio.http.HttpClient``): production uses the SDK's own, with a timeout;
the tests hand it one that records the request and answers as Twilio does, so no test touches
the network. Every failure -- Twilio refusing (a bad number, a suspended account, rate limits),
or not answering -- is ``BackendUnavailable``: the relay retries the delivery with backoff and
dead-letters it after its last try, where an operator sees Twilio's own error text.
"""

from __future__ import annotations

import logging

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from hellodoctor_domain.errors import BackendUnavailable
from hellodoctor_domain.model.notifications import PhoneNumber
from hellodoctor_domain.ports.notifications import SmsMessage

_log = logging.getLogger(__name__)


class TwilioSms:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        sender: PhoneNumber | str,
        *,
        http_client: HttpClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        """``sender``: the Twilio number (E.164) or messaging service id (``MG...``)."""
        self._client = Client(
            account_sid, auth_token, http_client=http_client or TwilioHttpClient(timeout=timeout)
        )
        self._sender = str(sender)

    def send(self, message: SmsMessage) -> None:
        target = {"messaging_service_sid": self._sender} if self._sender.startswith("MG") else {}
        try:
            sent = self._client.messages.create(
                to=message.to.value,
                body=message.body,
                **(target or {"from_": self._sender}),
            )
        except TwilioRestException as error:
            raise BackendUnavailable(
                f"Twilio refused the message (HTTP {error.status}, code {error.code}): {error.msg}"
            ) from error
        except (TwilioException, requests.RequestException, OSError) as error:
            raise BackendUnavailable(f"cannot reach Twilio: {error}") from error
        _log.info("sms %s sent as %s", message.kind, sent.sid)


class InMemorySms:
    """Keeps every text message instead of sending it (unit tests, demos)."""

    def __init__(self) -> None:
        self.sent: list[SmsMessage] = []

    def send(self, message: SmsMessage) -> None:
        self.sent.append(message)
