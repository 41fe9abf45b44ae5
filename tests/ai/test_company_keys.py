"""A company's own AI keys (/settings/connections/): checked against the provider when saved, then used by the
engine for that company's calls instead of the environment's; other companies keep the environment's."""

import pytest

from autonomax.connections import ConnectionCheckFailed, connection_save
from autonomax.models import Connection, Role
from chimera.ai.services import ai_generate
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def openai_with_key_check(openai_server, models_file, monkeypatch):
    # an OpenAI-compatible local server that accepts only the company's key, named by OPENAI_API_KEY
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = openai_server()
    server.valid_keys = {"sk-company-own"}
    models_file(providers={"openai": {"base_url": server.url, "api_key_env": "OPENAI_API_KEY"}})
    return server


def test_the_engine_uses_the_company_key_and_others_stay_on_the_environment(company, other_company,
                                                                           openai_with_key_check):
    # given the owner connected the company's OpenAI key (checked by listing the models)
    owner = MembershipFactory(company=company, role=Role.OWNER).user
    connection = connection_save(company=company, kind="ai", values={"openai_api_key": "sk-company-own"},
                                 actor=owner)
    assert connection.status_message == "Keys accepted by openai."
    # when each company asks the engine
    own = ai_generate(company=company, task_type="quick_response", prompt="hello")
    other = ai_generate(company=other_company, task_type="quick_response", prompt="hello")
    # then the company's call went to OpenAI with its key; the other company has no key and falls back offline
    assert own.provider == "openai" and other.provider == "offline"


def test_a_key_the_provider_refuses_is_not_stored(company, openai_with_key_check):
    owner = MembershipFactory(company=company, role=Role.OWNER).user
    with pytest.raises(ConnectionCheckFailed, match="openai refused the key"):
        connection_save(company=company, kind="ai", values={"openai_api_key": "sk-wrong"}, actor=owner)
    assert not Connection.objects.exists()
