"""The offline provider: deterministic, free, always available.

It builds useful output from the inputs (the prompt and the structured
`context`) with templates and keyword extraction. Same inputs, same output.
It is the embedded default, the provider in tests, and the last fallback.
"""

import json
import re
from collections import Counter
from decimal import Decimal

from .base import ProviderReply

MODEL = "offline-templates-v1"

_STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be because been before being below between both but by
can could did do does doing down during each few for from further had has have having he her here hers him his how
i if in into is it its itself just me more most my no nor not now of off on once only or other our ours out over own
please same she should so some such than that the their theirs them then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you your yours write make
create give using use need want new get let like one two via per etc something thing things
""".split())


def keywords_extract(text: str, *, limit: int = 8) -> list[str]:
    """The most frequent meaningful words of `text`, in order of first appearance among equals."""
    words = re.findall(r"[a-z][a-z0-9+'-]{2,}", text.lower())
    counts = Counter(w for w in words if w not in _STOPWORDS)
    first_seen = {w: i for i, w in reversed(list(enumerate(words)))}
    ranked = sorted(counts, key=lambda w: (-counts[w], first_seen[w]))
    return ranked[:limit]


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def _titlecase(text: str) -> str:
    return " ".join(w if w.isupper() else w[:1].upper() + w[1:] for w in text.split())


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" -,:;|")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]


def _tokens(text: str) -> int:
    # Rough: one token per ~4 characters, at least one per word.
    return max(len(text.split()), len(text) // 4, 1)


_PRICE_BY_KIND = (
    (("course", "masterclass", "bootcamp"), Decimal("49.00")),
    (("bundle", "kit", "toolkit", "system"), Decimal("29.00")),
    (("template", "planner", "tracker", "dashboard", "spreadsheet", "notion"), Decimal("19.00")),
    (("ebook", "guide", "e-book", "workbook", "checklist", "cheat"), Decimal("12.00")),
    (("printable", "worksheet", "sticker", "wallpaper"), Decimal("7.00")),
)


def _draft_price(words: list[str]) -> Decimal:
    for names, price in _PRICE_BY_KIND:
        if any(name in w for w in words for name in names):
            return price
    return Decimal("15.00")


TITLE_MIN, TITLE_MAX = 3, 70


def _starts_with(title: str, primary: str) -> bool:
    """The schema's rule (ProductDraftOut): the title starts with the primary keyword, ignoring case."""
    return TITLE_MIN <= len(title) <= TITLE_MAX and title.lower().startswith(primary.lower())


def _draft_title(primary: str, *, category: str, audience: str) -> str:
    """The longest candidate that fits in 70 characters and starts with the primary keyword.

    Title-casing is only kept where it keeps the keyword a prefix (it splits on characters such as
    U+001D and changes letters such as 'ß'); otherwise the keyword is used as given.
    """
    cased = _titlecase(primary)
    head = cased if cased.lower().startswith(primary.lower()) else primary
    if category.lower() in primary.lower():
        options = [f"{head} for {_titlecase(audience)}", head]
    else:
        options = [f"{head} {_titlecase(category)} for {_titlecase(audience)}", f"{head} {_titlecase(category)}",
                   head]
    options += [primary, f"{primary} digital product", f"{primary} product"]
    # A keyword longer than a title cannot start one; the edge refuses it, this keeps the output valid.
    return next((t for t in options if _starts_with(t, primary)), _clip(primary, TITLE_MAX) or "Digital product")


def product_draft(prompt: str, ctx: dict) -> dict:
    keywords = _as_list(ctx.get("keywords")) or keywords_extract(prompt, limit=5)
    category = str(ctx.get("category") or "").strip() or (keywords_extract(prompt, limit=2) + ["digital product"])[-1]
    audience = str(ctx.get("audience") or "").strip() or "busy professionals"
    refs = _as_list(ctx.get("refs"))
    primary = str(ctx.get("primary_keyword") or (keywords[0] if keywords else category)).strip()

    title = _draft_title(primary, category=category, audience=audience)
    secondary = [k for k in keywords if k.lower() != primary.lower()]
    description = (
        f"{_titlecase(primary)} made for {audience}. This {category} helps you get results without starting "
        f"from a blank page"
        + (f", covering {', '.join(secondary[:3])}" if secondary else "")
        + ". Instant digital download: open it, follow the steps, and adapt it to your own work."
        + (f" Inspired by what works in {', '.join(refs[:2])}." if refs else "")
    )
    tags = []
    for tag in [primary, *secondary, category, audience, *(f"{primary} {category}".split()[:1])]:
        tag = tag.lower().strip()
        if tag and tag not in tags and len(tag) <= 40:
            tags.append(tag)
    if not tags:  # every candidate was longer than a tag may be
        tags = [_clip(primary.lower(), 40).strip() or primary.lower()[:40].strip() or "digital product"]
    assets = [f"{_titlecase(category)} ({primary}) — main file", f"Quick-start guide for {audience}",
              "Cover image 1600x1200"]
    words = " ".join([category, primary, *keywords]).lower().split()
    covered = sum(1 for k in keywords if k.lower() in (title + " " + description).lower())
    rubric = {
        "readability": 4 if max(len(s.split()) for s in _sentences(description)) <= 25 else 3,
        "intent_match": 4 if ctx.get("audience") else 3,
        "uniqueness": min(5, 2 + len(set(secondary[:3]))),
        "seo": min(5, 1 + round(4 * covered / max(len(keywords), 1))),
        "brand_fit": 4 if refs else 3,
    }
    return {"title": title, "description": description[:5000], "tags": tags[:13], "assets": assets,
            "price": str(_draft_price(words)), "rubric": rubric}


def listing_copy(prompt: str, ctx: dict) -> dict:
    name = str(ctx.get("product_name") or ctx.get("name") or "").strip()
    description = str(ctx.get("description") or "").strip()
    keywords = _as_list(ctx.get("keywords")) or keywords_extract(f"{name} {description} {prompt}", limit=6)
    name = name or _titlecase(" ".join(keywords[:3])) or "Digital Product"
    lead = keywords[0] if keywords else name
    extra = [k for k in keywords if k.lower() not in name.lower()]
    title = _clip(f"{name} | {_titlecase(' · '.join(extra[:3]))}" if extra else name, 140)
    points = _sentences(description)[:3]
    bullets = [f"{_titlecase(k)}: ready to use from the first minute" for k in keywords[:3]] + points
    body = (f"{name} — {description or 'a ready-to-use digital download'}" if description
            else f"{name}: a ready-to-use digital download built around {lead}.")
    body += f" Ideal if you are searching for {', '.join(keywords[:4])}." if keywords else ""
    body += " Instant download, lifetime access, free updates."
    return {"title": title, "bullets": bullets[:6] or [f"{name}, instant download"], "description": body,
            "tags": [k.lower() for k in keywords][:13]}


def email(prompt: str, ctx: dict) -> dict:
    purpose = str(ctx.get("purpose") or "").strip() or "update"
    product = str(ctx.get("product") or "").strip()
    audience = str(ctx.get("audience") or "").strip()
    name = str(ctx.get("name") or ctx.get("first_name") or "").strip()
    details = _sentences(str(ctx.get("description") or ""))[:2]
    keywords = _as_list(ctx.get("keywords")) or [
        k for k in keywords_extract(f"{product} {' '.join(details)} {prompt}", limit=6)
        if k not in purpose.lower() and k not in ("email", "mail") and k not in product.lower()]
    thing = product or "your download"
    subjects = {
        "welcome": f"Welcome! Here is how to get started with {thing}",
        "nurture": f"A quick tip{f' for {audience}' if audience else ''}{f' about {product}' if product else ''}",
        "launch": f"New: {product or _titlecase(' '.join(keywords[:2])) or 'something for you'} is here",
        "abandoned_cart": f"You left {product or 'something'} in your cart",
        "follow_up": f"Following up{f' on {product}' if product else ''}",
        "win_back": f"We miss you{f' — {product} has improved' if product else ''}",
    }
    openings = {
        "welcome": f"Thanks for getting {thing}. Open it, pick one section, and use it today: a small first win "
                   "makes the rest easy.",
        "nurture": f"Here is one practical idea{f' for {audience}' if audience else ''} you can use this week"
                   f"{f' with {product}' if product else ''}.",
        "launch": f"{product or 'Our new product'} is out today{f', made for {audience}' if audience else ''}.",
        "abandoned_cart": f"{thing[:1].upper() + thing[1:]} is still in your cart. If something held you back, "
                          "reply and tell us what it was.",
        "follow_up": f"I wanted to follow up{f' on {product}' if product else ''} and check it does what you need.",
        "win_back": f"It has been a while. {f'{product} has improved since you last looked. ' if product else ''}"
                    "Here is what is new.",
    }
    subject = _clip(subjects.get(purpose, f"{_titlecase(purpose.replace('_', ' '))}"
                                          f"{f': {product}' if product else ''}"), 150)
    lines = [f"Hi {name}," if name else "Hi there,", "",
             openings.get(purpose, f"A short note about {purpose.replace('_', ' ')}"
                                   f"{f' and {product}' if product else ''}.")]
    if details:
        lines.append(" ".join(details))
    if ctx.get("keywords"):
        lines.append(f"It covers {', '.join(keywords[:3])}.")
    lines += ["", "Reply to this email if you have any question; a real person reads every reply.", "",
              "Thanks,", "The team"]
    return {"subject": subject, "body": "\n".join(lines)}


def _stems(text: str, limit: int = 50) -> set[str]:
    """Keywords reduced to a crude stem, so 'refunds'/'refunded' match 'refund'."""
    return {_stem(w) for w in keywords_extract(text, limit=limit)}


def _stem(word: str) -> str:
    if len(word) <= 4:
        return word
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def support_answer(prompt: str, ctx: dict) -> dict:
    question = str(ctx.get("question") or prompt).strip()
    snippets = ctx.get("snippets") or ctx.get("knowledge") or []
    wanted = _stems(question, limit=12)
    best, best_score, best_title = None, 0.0, ""
    for i, snippet in enumerate(snippets):
        if isinstance(snippet, dict):
            title, body = str(snippet.get("title") or f"snippet {i + 1}"), str(snippet.get("body") or "")
        else:
            title, body = f"snippet {i + 1}", str(snippet)
        have = _stems(f"{title} {body}")
        score = len(wanted & have) / max(len(wanted), 1)
        if score > best_score:
            best, best_score, best_title = body, score, title
    if best is None or best_score < 0.25:
        return {"answer": "Thanks for your message. I could not find a confident answer in our help articles, "
                          "so a team member will follow up with you shortly.",
                "confidence": round(best_score, 2), "escalate": True, "sources": []}
    relevant = [s for s in _sentences(best) if wanted & _stems(s)] or _sentences(best)
    answer = "Thanks for reaching out. " + " ".join(relevant[:3])
    return {"answer": answer, "confidence": round(min(1.0, 0.4 + best_score * 0.6), 2),
            "escalate": best_score < 0.5, "sources": [best_title]}


def classification(prompt: str, ctx: dict) -> dict:
    text = str(ctx.get("text") or prompt)
    labels = ctx.get("labels") or ["other"]
    words = set(keywords_extract(text, limit=100)) | set(re.findall(r"[a-z0-9]+", text.lower()))
    scores = {}
    for label in labels:
        hints = labels[label] if isinstance(labels, dict) else []
        terms = set(_as_list(hints)) | set(re.split(r"[\s_/-]+", str(label).lower()))
        terms = {t.lower() for t in terms if t}
        hits = sum(1 for t in terms if t in words or (" " in t and t in text.lower()))
        scores[str(label)] = round(hits / max(len(terms), 1), 3)
    label_list = [str(label) for label in labels]
    best = max(label_list, key=lambda lab: (scores[lab], -label_list.index(lab)))
    if scores[best] == 0 and "other" in label_list:
        best = "other"
    total = sum(scores.values()) or 1.0
    confidence = round(scores[best] / total, 3) if scores[best] else 0.0
    return {"label": best, "confidence": confidence, "scores": scores}


def _text_for(task_type: str, prompt: str, ctx: dict) -> str:
    keywords = keywords_extract(prompt + " " + " ".join(str(v) for v in ctx.values() if isinstance(v, str)))
    topic = _titlecase(" ".join(keywords[:3])) or "Your request"
    first = _sentences(prompt)[0] if _sentences(prompt) else prompt
    if task_type == "code_generation":
        name = "_".join(keywords[:3]) or "task"
        name = re.sub(r"\W", "_", name)
        return (f"# Offline provider: no code model is reachable, so this is a typed skeleton to fill in.\n"
                f"def {name}(*args, **kwargs):\n    \"\"\"{_clip(first, 200)}\"\"\"\n"
                f"    raise NotImplementedError(\"{name}: written by the offline provider, needs a real body\")\n")
    if task_type == "analysis":
        numbers = [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*\.?\d*", prompt) if n.strip("-,.")]
        lines = [f"Analysis: {topic}", f"- Key terms: {', '.join(keywords[:6]) or 'none found'}"]
        if numbers:
            lines.append(f"- Figures found: {len(numbers)} (min {min(numbers):g}, max {max(numbers):g}, "
                         f"mean {sum(numbers) / len(numbers):.2f})")
        lines.append("- Next step: confirm these figures against the source data before acting.")
        return "\n".join(lines)
    if task_type in ("quick_response", "cost_optimized"):
        return f"{topic}: {_clip(first, 200)}" if keywords else _clip(first, 200)
    # content_generation and anything else: a short structured draft around the keywords.
    sections = "\n\n".join(
        f"## {_titlecase(k)}\n{_titlecase(k)} matters because it shapes how readers judge {topic.lower()}. "
        f"Start with one concrete example, then give one step they can take today." for k in keywords[:3])
    return f"# {topic}\n\n{_clip(first, 300)}\n\n{sections}".strip()


_BUILDERS = {
    "product_draft": product_draft,
    "listing_copy": listing_copy,
    "email": email,
    "support_answer": support_answer,
    "classification": classification,
}


def _fill_schema(schema: dict, prompt: str, ctx: dict, keywords: list[str], depth: int = 0):
    """A minimal instance of a JSON schema built from the inputs (for custom schemas on generic tasks)."""
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: ctx[name] if name in ctx else _fill_schema(sub, prompt, ctx, keywords, depth + 1)
                for name, sub in props.items()}
    if kind == "array":
        item = schema.get("items", {"type": "string"})
        count = max(schema.get("minItems", 1), min(3, len(keywords)) or 1)
        return [_fill_schema(item, prompt, ctx, keywords[i:] or keywords, depth + 1) for i in range(count)]
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    text = _clip(prompt, schema.get("maxLength", 500)) if depth <= 1 and not keywords else (
        keywords[0] if keywords else "n/a")
    return text.ljust(schema.get("minLength", 0), ".")


def offline_generate(*, task_type: str, prompt: str, context: dict | None, json_schema: dict | None,
                     prefer_json: bool) -> ProviderReply:
    ctx = context or {}
    builder = _BUILDERS.get(task_type)
    if builder is not None:
        data = builder(prompt, ctx)
        content = json.dumps(data, ensure_ascii=False)
    elif json_schema is not None or prefer_json:
        data = _fill_schema(json_schema or {"type": "object"}, prompt, ctx, keywords_extract(prompt))
        content = json.dumps(data, ensure_ascii=False)
    else:
        content = _text_for(task_type, prompt, ctx)
    return ProviderReply(content=content, model=MODEL, tokens_in=_tokens(prompt), tokens_out=_tokens(content))
