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


class BouncingBackend(EmailBackend):
    """Like locmem, but mail to bounce.example bounces: the provider reports each bounce to our tracking
    webhook a little later (while the next message is being sent), as Postmark's webhook would."""

    reports: list = []
    report = None  # set by the test: posts one message's bounce to the webhook

    def send_messages(self, messages):
        while BouncingBackend.reports:
            BouncingBackend.report(BouncingBackend.reports.pop(0))
        sent = super().send_messages(messages)
        BouncingBackend.reports.extend(m for m in messages if m.to[0].endswith("@bounce.example"))
        return sent
