"""API token authentication: one indexed lookup by the key's SHA-256."""

import hashlib
import secrets

from django.db.models import OuterRef, Subquery
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .models import APIToken, Membership
from .security import token_failure_record, token_failures_check

KEY_PREFIX = "ax_"


def token_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_token_create(*, user, company, name: str = "") -> tuple[APIToken, str]:
    """Create a token; the raw key is returned once and never stored."""
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = APIToken.objects.create(
        user=user, company=company, name=name, key_hash=token_hash(raw_key), prefix=raw_key[:8]
    )
    return token, raw_key


def api_token_revoke(*, token: APIToken) -> None:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])


class APITokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        token_failures_check(request)  # a client guessing keys is refused before any lookup
        try:
            return self._authenticate_key(header)
        except exceptions.AuthenticationFailed:
            token_failure_record(request)
            raise

    def _authenticate_key(self, header):
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header: expected 'Token <key>'.")
        try:
            raw_key = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token header: the key is not valid text.") from exc
        # The caller's membership comes in the same query (the permission check needs it next).
        member = Membership.objects.filter(user_id=OuterRef("user_id"), company_id=OuterRef("company_id"))
        token = (
            APIToken.objects.select_related("user", "company")
            .annotate(member_id=Subquery(member.values("pk")[:1]), member_role=Subquery(member.values("role")[:1]))
            .filter(key_hash=token_hash(raw_key), revoked_at__isnull=True)
            .first()
        )
        if token is None or not token.user.is_active or not token.company.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class APITokenScheme(OpenApiAuthenticationExtension):
    target_class = APITokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <key>`; create one with `manage.py create_api_token USER`."}
