"""Dashboard pages for people: the inbox (queue with SLA countdowns, escalations first), one ticket's thread
with the bot's context and its editable draft, one-click macros, assignment; the knowledge base editor."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View

from autonomax.errors import AppError, NotFoundError
from autonomax.models import Membership
from autonomax.tenancy import CompanyViewMixin, can_operate

from .intents import INTENT_LABELS, ticket_intent_label
from .knowledge import article_save
from .models import KnowledgeArticle, Macro, Ticket
from .selectors import ticket_detail, ticket_queue
from .tickets import ticket_assign, ticket_reply, ticket_resolve


def _sla_state(ticket: Ticket, now) -> dict:
    """The timer that matters now: first response until answered, then resolution; seconds left (< 0 late)."""
    if ticket.status == Ticket.Status.RESOLVED:
        return {"label": "resolved", "seconds": None, "breached": ticket.sla_breached}
    if ticket.first_response_at is None and ticket.first_response_due:
        due, label = ticket.first_response_due, "first response"
    else:
        due, label = ticket.resolution_due, "resolution"
    if ticket.waiting_since is not None:
        return {"label": f"{label} paused", "seconds": None, "breached": ticket.sla_breached}
    seconds = int((due - now).total_seconds()) if due else None
    return {"label": label, "seconds": seconds, "due": due,
            "breached": ticket.sla_breached or (seconds is not None and seconds < 0)}


def _countdown(seconds) -> str:
    if seconds is None:
        return ""
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}h {minutes:02d}m" if hours else f"{sign}{minutes}m {secs:02d}s"


class InboxView(CompanyViewMixin, View):
    def get(self, request):
        now = timezone.now()
        show_resolved = request.GET.get("resolved") == "1"
        rows = []
        for ticket in ticket_queue(company=self.company, include_resolved=show_resolved)[:200]:
            sla = _sla_state(ticket, now)
            rows.append({"ticket": ticket, "sla": sla, "countdown": _countdown(sla["seconds"])})
        response = render(request, "support/inbox.html", {"rows": rows, "show_resolved": show_resolved})
        response["Vary"] = "HX-Request"
        return response


class TicketView(CompanyViewMixin, View):
    def _ticket(self, pk) -> Ticket:
        ticket = ticket_detail(company=self.company, pk=pk)
        if ticket is None:
            raise NotFoundError(f"Ticket {pk} not found.")
        return ticket

    def get(self, request, pk):
        try:
            ticket = self._ticket(pk)
        except NotFoundError:
            return render(request, "404.html", status=404)
        macro_id = request.GET.get("macro", "")
        macro = Macro.objects.filter(company=self.company, pk=int(macro_id)).first() if macro_id.isdigit() else None
        draft = macro.body if macro else ticket.draft_answer
        members = Membership.objects.filter(company=self.company).select_related("user").order_by("user__username")
        now = timezone.now()
        sla = _sla_state(ticket, now)
        return render(request, "support/ticket.html", {
            "ticket": ticket, "thread": list(ticket.messages.all()), "draft": draft,
            "macros": Macro.objects.filter(company=self.company).order_by("title"), "members": members,
            "sla": sla, "countdown": _countdown(sla["seconds"]), "context": ticket.escalation_context or {},
            "intents": INTENT_LABELS,
        })

    def post(self, request, pk):
        if not can_operate(self.membership):
            messages.error(request, "Your role in this company does not allow this action.")
            return redirect("support:ticket", pk=pk)
        try:
            ticket = self._ticket(pk)
            action = request.POST.get("action", "")
            if action == "reply":
                ticket_reply(ticket=ticket, user=request.user, body=request.POST.get("body", ""),
                             resolve=request.POST.get("resolve") == "1")
                messages.success(request, "Reply sent.")
            elif action == "assign":
                user_id = request.POST.get("assignee", "")
                member = (Membership.objects.filter(company=self.company, user_id=int(user_id)).select_related("user")
                          .first() if user_id.isdigit() else None)
                if user_id and member is None:
                    raise NotFoundError("No such member of this company.")
                ticket_assign(ticket=ticket, assignee=member.user if member else None, actor=request.user)
                messages.success(request, "Assignment saved.")
            elif action == "intent":
                ticket_intent_label(ticket=ticket, intent=request.POST.get("intent", ""), user=request.user)
                messages.success(request, "Intent saved; the ticket now trains the company's intent model.")
            elif action == "resolve":
                ticket_resolve(ticket=ticket, actor=request.user)
                messages.success(request, "Ticket resolved.")
            else:
                raise NotFoundError("No such action.")
        except AppError as exc:
            messages.error(request, exc.message)
        return redirect("support:ticket", pk=pk)


class KnowledgeView(CompanyViewMixin, View):
    """The company's articles, and a form to add one or edit the one picked."""

    def _article(self, request):
        pk = request.GET.get("article") or request.POST.get("article") or ""
        return KnowledgeArticle.objects.filter(company=self.company, pk=int(pk)).first() if pk.isdigit() else None

    def get(self, request):
        articles = KnowledgeArticle.objects.filter(company=self.company).order_by("title")
        return render(request, "support/knowledge.html", {"articles": articles, "article": self._article(request),
                                                          "macros": Macro.objects.filter(company=self.company)})

    def post(self, request):
        if not can_operate(self.membership):
            messages.error(request, "Your role in this company does not allow this action.")
            return redirect("support:knowledge")
        try:
            article = article_save(company=self.company, title=request.POST.get("title", ""),
                                   body=request.POST.get("body", ""), language=request.POST.get("language") or "en",
                                   is_published=request.POST.get("is_published") == "on",
                                   article=self._article(request))
        except AppError as exc:
            articles = KnowledgeArticle.objects.filter(company=self.company).order_by("title")
            return render(request, "support/knowledge.html", {
                "articles": articles, "article": self._article(request), "error": exc.message,
                "details": exc.details, "form": request.POST, "macros": Macro.objects.filter(company=self.company)},
                status=400)
        messages.success(request, f"Saved “{article.title}” ({article.passages.count()} passages).")
        return redirect(f"{request.path}?article={article.pk}")
