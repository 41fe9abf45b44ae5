"""The copilot pipeline: classify, answer from orders or the knowledge base, score, send or escalate."""

import logging

from .models import Ticket

logger = logging.getLogger(__name__)


def ticket_process(*, ticket_id: int) -> None:
    """Run the pipeline for one ticket (a repeat is a no-op once the ticket is answered or handed off)."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None or ticket.handed_off_at is not None or ticket.status != Ticket.Status.OPEN:
        return
    logger.info("ticket %s: the copilot pipeline is not configured yet; the ticket waits for a person", ticket_id)
