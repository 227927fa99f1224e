"""Expired rows are deleted: challenges, pushed requests, codes, tokens, seen jtis, throttle counters.

Each table gets rows on both sides of its rule; exactly the ones the rule names go. A code that has
expired stays while a live token issued from it remains, so replaying it still revokes that token.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from tests.support.catalogue import agency_key, service_toml
from tests.support.server import vault_cmd
from vault.citizens.passkeys import PasskeyChallenge
from vault.citizens.sessions import ABSOLUTE, IDLE, SessionRow
from vault.citizens.tables import Citizen
from vault.citizens.throttle import LONGEST, ThrottleRow
from vault.consent.catalogue import parse_service
from vault.consent.tables import AuthorizationCode, PushedRequest, SeenJti, Token
from vault.identity.tables import IdentityProvider, IdentityRequest, SeenAssertion
from vault.purge import CODE_GRACE, purge_expired

if TYPE_CHECKING:
    from vault.config import Settings
    from vault.runtime import Runtime

NOW = datetime.now(UTC)
PAST, FUTURE = NOW - timedelta(seconds=1), NOW + timedelta(minutes=5)
CODE_PAST = NOW - CODE_GRACE - timedelta(seconds=1)  # a code is kept an hour past its expiry


def _id(name: str) -> bytes:
    return name.encode().ljust(32, b".")


async def _grant(runtime: Runtime) -> tuple[str, str]:
    citizen = await runtime.services.accounts.register("purge@example.de", "ein sehr gutes Passwort")
    client_id = await runtime.services.catalogue.add_agency(
        "Bürgeramt Köln", ["https://amt.example/cb"], agency_key()[1]
    )
    service = parse_service(service_toml(client_id))
    await runtime.services.catalogue.add_service(service)
    agency = await runtime.services.catalogue.agency(client_id)
    grant = await runtime.services.grants.create(citizen, agency, service, ("given_name",), ())
    return client_id, grant.id


def _code(name: str, client_id: str, grant_id: str, expires: datetime) -> AuthorizationCode:
    return AuthorizationCode(
        code_hash=_id(name),
        client_id=client_id,
        grant_id=grant_id,
        redirect_uri="https://amt.example/cb",
        code_challenge="x" * 43,
        expires_at=expires,
        used_at=NOW - timedelta(minutes=1),
    )


def _token(name: str, client_id: str, grant_id: str, code: str, expires: datetime, *, revoked: bool = False) -> Token:
    return Token(
        token_hash=_id(name),
        kind="refresh" if name.startswith("refresh") else "access",
        client_id=client_id,
        grant_id=grant_id,
        code_hash=_id(code),
        jkt="j" * 43,
        expires_at=expires,
        revoked_at=NOW if revoked else None,
    )


async def _keys(runtime: Runtime, column: object) -> set[bytes]:
    async with runtime.sessions() as db:
        return set((await db.execute(select(column))).scalars())  # type: ignore[call-overload]


async def test_purge_deletes_exactly_what_has_expired(runtime: Runtime) -> None:
    client_id, grant_id = await _grant(runtime)
    async with runtime.sessions.begin() as db:
        for name, expires in (("challenge-old", PAST), ("challenge-new", FUTURE)):
            db.add(PasskeyChallenge(challenge_hash=_id(name), purpose="login", expires_at=expires))
        for name, expires in (("par-old", PAST), ("par-new", FUTURE)):
            db.add(PushedRequest(request_uri_hash=_id(name), client_id=client_id, params="{}", expires_at=expires))
        codes = (("code-bare", CODE_PAST), ("code-live", CODE_PAST), ("code-dead", CODE_PAST), ("code-new", FUTURE))
        for name, expires in (*codes, ("code-just-expired", PAST)):  # its tokens may be being issued right now
            db.add(_code(name, client_id, grant_id, expires))
        await db.flush()
        db.add(_token("access-old", client_id, grant_id, "code-dead", PAST))
        db.add(_token("refresh-revoked", client_id, grant_id, "code-dead", FUTURE, revoked=True))
        db.add(_token("refresh-live", client_id, grant_id, "code-live", FUTURE))
        db.add(_token("access-new", client_id, grant_id, "code-new", FUTURE))
        for name, expires in (("jti-old", PAST), ("jti-new", FUTURE)):
            db.add(SeenJti(kind="dpop", jti_hash=_id(name), expires_at=expires))
        stale = NOW - LONGEST - timedelta(seconds=1)
        db.add(ThrottleRow(key=_id("throttle-stale"), failures=3, window_start=stale))
        db.add(ThrottleRow(key=_id("throttle-blocked"), failures=30, window_start=stale, blocked_until=FUTURE))
        db.add(ThrottleRow(key=_id("throttle-recent"), failures=3, window_start=NOW - timedelta(minutes=10)))
        citizen = await db.scalar(select(Citizen.id))
        sessions = {
            "session-ended": (NOW - timedelta(minutes=1), NOW - timedelta(minutes=1), PAST),
            "session-idle": (NOW - timedelta(hours=1), NOW - IDLE - timedelta(seconds=1), None),
            "session-too-old": (NOW - ABSOLUTE - timedelta(seconds=1), NOW, None),
            "session-live": (NOW - timedelta(hours=1), NOW - timedelta(minutes=1), None),
        }
        db.add(
            IdentityProvider(
                id="idp", name="eID", kind="oidc", issuer="https://eid.example", client_id="vault",
                auth_method="client_secret_basic", secret_sealed=b"x", acr_map="{}", claims_map="{}",
                metadata_doc="{}", created_at=NOW,
            )
        )  # fmt: skip
        for name, expires in (("idp-expired", PAST), ("idp-new", FUTURE)):
            db.add(
                IdentityRequest(
                    state_hash=_id(name), browser_hash=_id("browser"), provider_id="idp", purpose="login",
                    level="high", nonce="n", code_verifier="v", next="/", created_at=NOW, expires_at=expires,
                )
            )  # fmt: skip
            db.add(SeenAssertion(id_hash=_id(name), expires_at=expires))
        for name, (created, seen, ended) in sessions.items():
            db.add(
                SessionRow(
                    token_hash=_id(name),
                    citizen_id=citizen,
                    csrf_token="c",
                    assurance="basic",
                    created_at=created,
                    last_seen_at=seen,
                    ended_at=ended,
                )
            )

    deleted = await purge_expired(runtime.sessions, NOW)

    assert deleted == {
        "passkey_challenges": 1,
        "pushed_requests": 1,
        "tokens": 1,
        "codes": 2,
        "seen_jtis": 1,
        "identity_requests": 1,
        "saml_assertions_seen": 1,
        "sessions": 3,
        "throttle": 1,
    }
    assert await _keys(runtime, IdentityRequest.state_hash) == {_id("idp-new")}
    assert await _keys(runtime, SeenAssertion.id_hash) == {_id("idp-new")}
    assert await _keys(runtime, PasskeyChallenge.challenge_hash) == {_id("challenge-new")}
    assert await _keys(runtime, PushedRequest.request_uri_hash) == {_id("par-new")}
    assert await _keys(runtime, AuthorizationCode.code_hash) == {
        _id(n) for n in ("code-live", "code-new", "code-just-expired")
    }
    assert await _keys(runtime, Token.token_hash) == {_id(n) for n in ("refresh-revoked", "refresh-live", "access-new")}
    assert await _keys(runtime, SeenJti.jti_hash) == {_id("jti-new")}
    assert await _keys(runtime, ThrottleRow.key) == {_id("throttle-blocked"), _id("throttle-recent")}
    assert await _keys(runtime, SessionRow.token_hash) == {_id("session-live")}
    assert set((await purge_expired(runtime.sessions, NOW)).values()) == {0}


def test_vault_db_purge_runs_once_and_reports(migrated: Settings) -> None:
    env = {"VAULT_DATA_DIR": str(migrated.data_dir), "VAULT_DATABASE_URL": migrated.database_url}
    result = vault_cmd("db", "purge", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == dict.fromkeys(
        (
            "passkey_challenges",
            "pushed_requests",
            "tokens",
            "codes",
            "seen_jtis",
            "identity_requests",
            "saml_assertions_seen",
            "sessions",
            "throttle",
        ),
        0,
    )
