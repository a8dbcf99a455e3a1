"""Appointment e-mails: templates (HTML and plain text, Jinja2 with autoescape) and their
iCalendar entries; delivered through the SMTP or Maildir notifier (``notify.py``)."""

from hellodoctor_adapters.mail.messenger import EmailMessenger

__all__ = ["EmailMessenger"]
