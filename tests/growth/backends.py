"""An email backend standing in for a mail server that refuses some addresses (the network edge)."""

import smtplib

from django.core.mail.backends.locmem import EmailBackend


class RejectingBackend(EmailBackend):
    """Like locmem, but the server refuses recipients at rejected.example."""

    def send_messages(self, messages):
        for message in messages:
            refused = {a: (550, b"no such user") for a in message.to if a.endswith("@rejected.example")}
            if refused:
                raise smtplib.SMTPRecipientsRefused(refused)
        return super().send_messages(messages)
