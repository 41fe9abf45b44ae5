"""The copilot pipeline: for a ticket the bot may still answer —

1. language (stop-word profile) and intent (the AI engine's classification, with its confidence, checked by
   the company's own scikit-learn model, which also stands in when the AI engine is down: support.intents);
2. order status and delivery questions answered from the real order data (status, items, the download
   link if it still works);
3. refund requests within policy (window, amount) refunded through commerce's refund service;
4. anything else: retrieval from the knowledge base, then an answer grounded in the passages and the
   customer's orders through the AI engine;
5. a numeric answer confidence from the intent confidence, the retrieval coverage, the model's own
   confidence and a grounding check (every sentence that makes a claim must be traceable to a passage or an
   order fact). At or above the company's threshold the answer is sent; below, the ticket is escalated with
   the full context. The confidence and its parts are logged on every ticket (TicketEvent kind=confidence).

The AI engine down or over budget escalates at once. Whether the bot may reply is decided again when it
sends (`ticket_bot_reply` under the row lock), never only here.
"""

import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from autonomax.errors import AppError

from .intents import IntentVerdict, intent_combine, intent_predict
from .knowledge import content_words, kb_search
from .models import Ticket, TicketEvent, TicketMessage
from .tickets import support_settings_for, ticket_bot_reply, ticket_escalate

logger = logging.getLogger(__name__)

# Intent labels with hint words (several languages) for the AI engine's classification.
INTENTS: dict[str, list[str]] = {
    "order_status": ["order", "status", "where", "download", "link", "received", "receive", "arrived", "delivery",
                     "email", "paid", "bestellung", "lieferung", "pedido", "commande",
                     "descarga", "telechargement", "herunterladen"],
    "refund": ["refund", "money back", "return", "cancel", "chargeback", "reimburse", "erstattung",
               "rückerstattung", "zurück", "reembolso", "devolución", "remboursement", "rembourser"],
    "tech_support": ["error", "bug", "broken", "crash", "not working", "open", "corrupt", "notion", "pdf", "import",
                     "duplicate", "install", "fehler", "funktioniert", "error", "erreur", "abrir"],
    "sales": ["discount", "coupon", "bundle", "price", "license", "licence", "bulk", "team", "commercial", "buy",
              "rabatt", "descuento", "remise", "preis", "precio"],
    "faq": ["how", "can", "what", "does", "format", "invoice", "vat", "language", "update", "account", "wie",
            "cómo", "comment", "rechnung", "factura", "facture"],
    "other": [],
}

LANG_WORDS = {
    "en": set("the and is my i you to of a in it for not how what where can please thanks have with order".split()),
    "de": set("der die das und ist mein ich nicht sie wie was wo bitte danke habe mit ein eine meine bestellung "
              "kann ich".split()),
    "es": set("el la los las y es mi yo no usted como qué donde por favor gracias tengo con un una pedido "
              "puedo".split()),
    "fr": set("le la les et est mon je ne pas vous comment quoi où merci ai avec un une commande puis".split()),
}

TEMPLATES = {
    "en": {"hello": "Hi{name},", "order": "Your order #{order_id} ({items}) is {status}.",
           "download": "Your download link for {product} works for {left} more downloads until {expires}: {url}",
           "no_download": "The download link for {product} no longer works; a team member will send a new one.",
           "refunded": "We have refunded {amount} {currency} for order #{order_id}; it reaches your card in 5-10 "
                       "business days.",
           "bye": "Reply to this email if anything is still unclear."},
    "de": {"hello": "Hallo{name},", "order": "Ihre Bestellung #{order_id} ({items}) ist {status}.",
           "download": "Ihr Download-Link für {product} funktioniert noch {left} Mal bis {expires}: {url}",
           "no_download": "Der Download-Link für {product} funktioniert nicht mehr; wir senden Ihnen einen neuen.",
           "refunded": "Wir haben {amount} {currency} für Bestellung #{order_id} erstattet; der Betrag erscheint in "
                       "5-10 Werktagen auf Ihrer Karte.",
           "bye": "Antworten Sie einfach auf diese E-Mail, wenn noch etwas unklar ist."},
    "es": {"hello": "Hola{name},", "order": "Su pedido #{order_id} ({items}) está {status}.",
           "download": "Su enlace de descarga de {product} funciona {left} veces más hasta {expires}: {url}",
           "no_download": "El enlace de descarga de {product} ya no funciona; le enviaremos uno nuevo.",
           "refunded": "Hemos reembolsado {amount} {currency} del pedido #{order_id}; llegará a su tarjeta en 5-10 "
                       "días hábiles.",
           "bye": "Responda a este correo si algo no está claro."},
    "fr": {"hello": "Bonjour{name},", "order": "Votre commande #{order_id} ({items}) est {status}.",
           "download": "Votre lien de téléchargement pour {product} fonctionne encore {left} fois jusqu'au "
                       "{expires} : {url}",
           "no_download": "Le lien de téléchargement pour {product} ne fonctionne plus ; nous vous en enverrons un "
                          "nouveau.",
           "refunded": "Nous avons remboursé {amount} {currency} pour la commande #{order_id} ; le montant arrive "
                       "sur votre carte sous 5 à 10 jours ouvrés.",
           "bye": "Répondez à cet e-mail si quelque chose n'est pas clair."},
}
STATUS_WORDS = {
    "en": {"pending": "waiting for payment", "paid": "paid", "fulfilled": "paid and delivered",
           "refunded": "refunded", "cancelled": "cancelled"},
    "de": {"pending": "noch nicht bezahlt", "paid": "bezahlt", "fulfilled": "bezahlt und geliefert",
           "refunded": "erstattet", "cancelled": "storniert"},
    "es": {"pending": "pendiente de pago", "paid": "pagado", "fulfilled": "pagado y entregado",
           "refunded": "reembolsado", "cancelled": "cancelado"},
    "fr": {"pending": "en attente de paiement", "paid": "payée", "fulfilled": "payée et livrée",
           "refunded": "remboursée", "cancelled": "annulée"},
}


def language_detect(text: str) -> tuple[str, float]:
    """(language code, confidence) from the share of each language's common words; English when unsure."""
    words = re.findall(r"[^\W\d_]+", (text or "").lower())
    counts = {lang: sum(1 for w in words if w in vocab) for lang, vocab in LANG_WORDS.items()}
    best = max(counts, key=lambda k: (counts[k], k == "en"))
    total = sum(counts.values())
    if not total:
        return "en", 0.0
    return best, round(counts[best] / total, 3)


@dataclass
class Decision:
    """What the pipeline concluded for one ticket; logged on the ticket as the confidence event."""

    intent: str
    intent_confidence: float
    language: str
    route: str  # order_status, refund, kb, escalate
    draft: str = ""
    retrieval: float = 0.0
    grounding: float = 0.0
    model_confidence: float = 0.0
    confidence: float = 0.0
    threshold: float = 0.85
    reason: str = ""
    passages: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    ai_provider: str = ""
    intent_source: str = "ai"  # see support.intents.IntentVerdict
    intent_ai: dict = field(default_factory=dict)  # what the AI engine said
    intent_check: dict = field(default_factory=dict)  # what the company's model said (intent, confidence, version)

    @property
    def send(self) -> bool:
        return bool(self.draft) and not self.reason and self.confidence >= self.threshold


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text or "") if s.strip()]


def grounding_check(answer: str, sources: list[str]) -> tuple[float, list[str]]:
    """Share of the answer's claim sentences traceable to a source, and the ones that are not. A sentence
    with fewer than three content words (greetings, sign-offs) makes no claim; a claim is traced when at
    least 60% of its content words occur in one source."""
    source_words = [content_words(s) for s in sources if s]
    claims, ungrounded = 0, []
    for sentence in _sentences(answer):
        words = content_words(sentence)
        if len(words) < 3:
            continue
        claims += 1
        if not any(len(words & src) / len(words) >= 0.6 for src in source_words):
            ungrounded.append(sentence)
    if claims == 0:
        return 0.0, []
    return round((claims - len(ungrounded)) / claims, 4), ungrounded


def answer_confidence(*, intent_confidence: float, retrieval: float, grounding: float, model_confidence: float,
                      language_ok: bool = True, model_escalates: bool = False) -> float:
    """grounding × (0.4·intent + 0.4·retrieval + 0.2·model); halved when the model itself wanted a person or
    the answer is not in the customer's language."""
    value = grounding * (0.4 * intent_confidence + 0.4 * retrieval + 0.2 * model_confidence)
    if model_escalates:
        value *= 0.5
    if not language_ok:
        value *= 0.5
    return round(max(0.0, min(1.0, value)), 4)


def _order_facts_text(facts: list[dict]) -> list[str]:
    out = []
    for f in facts:
        out.append(f"order {f['order_id']} {f['status']} {' '.join(f['items'])} {f['total']} {f['currency']}")
    return out


def _jsonable_facts(facts: list[dict]) -> list[dict]:
    def conv(v):
        if isinstance(v, Decimal):
            return str(v)
        if hasattr(v, "isoformat"):
            return v.isoformat()
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v
    return [conv(f) for f in facts]


def _classify(ticket: Ticket, text: str) -> tuple[IntentVerdict, str]:
    """The AI engine's intent, checked by the company's own model; the model alone when the AI engine is down
    or over budget (no model: the AIError goes up and the ticket escalates)."""
    from chimera.ai.errors import AIError  # noqa: PLC0415
    from chimera.ai.services import ai_generate  # noqa: PLC0415 - the AI engine knows no app; apps call it

    check = intent_predict(company=ticket.company, text=text)
    try:
        result = ai_generate(company=ticket.company, task_type="classification", prompt=text[:4000],
                             context={"labels": INTENTS, "text": text[:4000]}, correlation_id=f"ticket:{ticket.pk}")
    except AIError as exc:
        if check is None:
            raise
        logger.warning("ticket %s: AI engine unavailable (%s); intent from model v%s", ticket.pk, exc.code,
                       check.version)
        return intent_combine(ai_intent=None, ai_confidence=0.0, check=check), ""
    data = result.data or {}
    verdict = intent_combine(ai_intent=str(data.get("label") or "other"),
                             ai_confidence=float(data.get("confidence") or 0.0), check=check)
    return verdict, result.provider


def _order_answer(ticket: Ticket, decision: Decision, facts: list[dict]) -> None:
    t = TEMPLATES.get(decision.language, TEMPLATES["en"])
    words = STATUS_WORDS.get(decision.language, STATUS_WORDS["en"])
    if not facts:
        decision.reason = "no_order_for_email"
        return
    latest = facts[0]
    name = f" {ticket.customer_name.split()[0]}" if ticket.customer_name.strip() else ""
    lines = [t["hello"].format(name=name), t["order"].format(order_id=latest["order_id"],
                                                             items=", ".join(latest["items"]) or "-",
                                                             status=words.get(latest["status"], latest["status"]))]
    for d in latest["downloads"]:
        if d["usable"]:
            lines.append(t["download"].format(product=d["product"], left=d["downloads_left"],
                                              expires=d["expires_at"].date().isoformat(), url=d["url"]))
        else:
            lines.append(t["no_download"].format(product=d["product"]))
            decision.reason = "download_expired"  # a person re-issues the link
    lines.append(t["bye"])
    decision.draft = "\n".join(lines)
    decision.retrieval, decision.grounding, decision.model_confidence = 1.0, 1.0, 1.0  # every line is an order fact


def _refund(ticket: Ticket, decision: Decision, facts: list[dict]) -> None:
    """Refund within policy (window, amount) through commerce's refund service; otherwise a person decides."""
    from commerce.selectors import order_for_company  # noqa: PLC0415
    from commerce.services.refunds import refund_issue  # noqa: PLC0415

    policy = support_settings_for(ticket.company)
    now = timezone.now()
    window = timedelta(days=policy.refund_window_days)
    candidates = [f for f in facts if f["refundable"] and f["paid_at"] and now - f["paid_at"] <= window]
    if not candidates:
        decision.reason = "refund_outside_policy" if facts else "no_order_for_email"
        return
    order = candidates[0]
    remaining = order["total"] - order["amount_refunded"]
    if remaining > policy.refund_max_amount:
        decision.reason = "refund_over_amount"
        return
    if decision.intent_confidence < policy.auto_send_threshold:
        decision.reason = "refund_intent_unsure"
        return
    current = Ticket.objects.filter(pk=ticket.pk).values("handed_off_at", "status").first()
    if current is None or current["handed_off_at"] is not None or current["status"] != Ticket.Status.OPEN:
        decision.reason = "handed_off"
        return
    try:
        refund = refund_issue(order=order_for_company(company=ticket.company, pk=order["order_id"]),
                              reason=f"support ticket {ticket.reference}")
    except AppError as exc:
        decision.reason = f"refund_failed:{exc.code}"
        return
    t = TEMPLATES.get(decision.language, TEMPLATES["en"])
    name = f" {ticket.customer_name.split()[0]}" if ticket.customer_name.strip() else ""
    decision.draft = "\n".join([t["hello"].format(name=name), t["refunded"].format(
        amount=refund.amount, currency=refund.currency, order_id=order["order_id"]), t["bye"]])
    decision.retrieval, decision.grounding, decision.model_confidence = 1.0, 1.0, 1.0


def _kb_answer(ticket: Ticket, decision: Decision, question: str, facts: list[dict]) -> None:
    from chimera.ai.services import ai_generate  # noqa: PLC0415

    passages = kb_search(company=ticket.company, query=question, limit=4)
    decision.passages = [p.as_dict() for p in passages]
    if not passages:
        decision.reason = "no_passage"
        return
    snippets = [{"title": p.title, "body": p.text} for p in passages]
    prompt = (f"Customer question (answer in language '{decision.language}'):\n{question[:4000]}\n\n"
              "Answer only from the knowledge snippets and the order facts in the context; cite snippet titles "
              "in `sources`. If they do not answer the question, set escalate to true.")
    result = ai_generate(company=ticket.company, task_type="support_answer", prompt=prompt,
                         context={"question": question[:4000], "snippets": snippets, "language": decision.language,
                                  "orders": _jsonable_facts(facts)[:3]}, correlation_id=f"ticket:{ticket.pk}")
    data = result.data or {}
    decision.ai_provider = result.provider
    decision.draft = str(data.get("answer") or "").strip()
    decision.model_confidence = float(data.get("confidence") or 0.0)
    decision.retrieval = max(p.coverage for p in passages)
    decision.grounding, ungrounded = grounding_check(
        decision.draft, [f"{p.title} {p.text}" for p in passages] + _order_facts_text(facts))
    answer_lang, lang_conf = language_detect(decision.draft)
    language_ok = answer_lang == decision.language or lang_conf == 0.0
    decision.confidence = answer_confidence(
        intent_confidence=decision.intent_confidence, retrieval=decision.retrieval, grounding=decision.grounding,
        model_confidence=decision.model_confidence, language_ok=language_ok,
        model_escalates=bool(data.get("escalate")))
    if ungrounded:
        decision.passages.append({"ungrounded": ungrounded})


def ticket_decide(*, ticket: Ticket) -> Decision:
    """Classify and draft for the ticket's latest customer message; no side effect except a refund within
    policy. Raises AIError when the AI engine cannot answer."""
    from commerce.selectors import customer_order_facts  # noqa: PLC0415

    policy = support_settings_for(ticket.company)
    last = ticket.messages.filter(author=TicketMessage.Author.CUSTOMER).order_by("-created_at", "-pk").first()
    question = f"{ticket.subject}\n{last.body if last else ''}".strip()
    language, _ = language_detect(question)
    verdict, provider = _classify(ticket, question)
    intent, intent_confidence = verdict.intent, verdict.confidence
    decision = Decision(intent=intent, intent_confidence=intent_confidence, language=language, route=intent,
                        threshold=policy.auto_send_threshold, ai_provider=provider, intent_source=verdict.source,
                        intent_ai={"intent": verdict.ai_intent, "confidence": verdict.ai_confidence},
                        intent_check=asdict(verdict.check) if verdict.check else {})
    facts = customer_order_facts(company=ticket.company, email=ticket.customer_email)
    decision.orders = _jsonable_facts(facts)
    if intent == "order_status":
        _order_answer(ticket, decision, facts)
        decision.confidence = answer_confidence(intent_confidence=intent_confidence, retrieval=decision.retrieval,
                                                grounding=decision.grounding,
                                                model_confidence=decision.model_confidence)
    elif intent == "refund":
        _refund(ticket, decision, facts)
        decision.confidence = answer_confidence(intent_confidence=intent_confidence, retrieval=decision.retrieval,
                                                grounding=decision.grounding,
                                                model_confidence=decision.model_confidence)
    elif intent == "other":
        decision.route, decision.reason = "escalate", "intent_other"
    else:
        decision.route = "kb"
        _kb_answer(ticket, decision, question, facts)
    return decision


def ticket_process(*, ticket_id: int) -> Decision | None:
    """Run the pipeline for one ticket; a repeat is a no-op once the ticket is answered or handed off."""
    from chimera.ai.errors import AIError  # noqa: PLC0415

    ticket = Ticket.objects.select_related("company").filter(pk=ticket_id).first()
    if ticket is None or ticket.handed_off_at is not None or ticket.status != Ticket.Status.OPEN:
        return None
    try:
        decision = ticket_decide(ticket=ticket)
    except AIError as exc:
        logger.warning("ticket %s: AI engine unavailable (%s); escalating", ticket.pk, exc.code)
        ticket_escalate(ticket=ticket, reason=f"ai_unavailable:{exc.code}", context={"error": exc.message})
        return None
    Ticket.objects.filter(pk=ticket.pk).update(intent=decision.intent, intent_confidence=decision.intent_confidence,
                                               language=decision.language, answer_confidence=decision.confidence)
    TicketEvent.objects.create(ticket=ticket, kind=TicketEvent.Kind.CONFIDENCE, actor="bot", created_at=timezone.now(),
                               data={k: v for k, v in asdict(decision).items() if k not in ("orders", "passages")}
                               | {"send": decision.send})
    context = {"intent": decision.intent, "intent_confidence": decision.intent_confidence,
               "language": decision.language, "confidence": decision.confidence, "threshold": decision.threshold,
               "passages": decision.passages, "draft": decision.draft, "orders": decision.orders}
    if decision.send:
        sent = ticket_bot_reply(ticket=ticket, body=decision.draft, confidence=decision.confidence,
                                data={"intent": decision.intent, "confidence": decision.confidence})
        if sent is None:  # a person got there first: their ticket now
            return decision
    else:
        reason = decision.reason or "low_confidence"
        ticket_escalate(ticket=ticket, reason=reason, context=context, draft=decision.draft, by="bot")
    return decision
