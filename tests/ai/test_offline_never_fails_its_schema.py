"""The offline provider is the last fallback: whatever brief passes the edge, its draft passes its own schema."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chimera.ai.providers.offline import offline_generate
from chimera.ai.schemas import ProductDraftOut

# What the brief serializer lets through: trimmed, non-blank text; the first keyword at most 70 characters.
text = st.text(min_size=1, max_size=100).map(str.strip).filter(bool)
first_keyword = st.text(min_size=1, max_size=70).map(str.strip).filter(bool)


def _draft(keywords, category, audience, refs):
    context = {"keywords": keywords, "category": category, "audience": audience, "refs": refs}
    reply = offline_generate(task_type="product_draft", prompt="a product", context=context, json_schema=None,
                             prefer_json=True)
    return ProductDraftOut.model_validate(json.loads(reply.content), context={"primary_keyword": keywords[0]})


@settings(max_examples=300, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(first=first_keyword, more=st.lists(text.map(lambda t: t[:80]), max_size=5), category=text,
       audience=st.text(min_size=1, max_size=200).map(str.strip).filter(bool),
       refs=st.lists(text, max_size=3))
def test_any_valid_brief_gives_a_draft_that_passes_the_schema(first, more, category, audience, refs):
    draft = _draft([first, *more], category, audience, refs)

    assert draft.title.lower().startswith(first.lower())


def test_the_cases_that_used_to_fail_the_schema():
    # U+001D splits a word for str.split(); 'ß' title-cases to 'SS'; a long keyword overflowed the title
    for keyword in ["bud\u001dget", "ßtraße planner", "x" * 70, "budget\u2028planner", "ab"]:
        draft = _draft([keyword], "templates", "freelancers", [])
        assert draft.title.lower().startswith(keyword.lower())
