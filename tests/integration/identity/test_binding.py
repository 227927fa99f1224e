"""Accounts bound to eID subjects (issue 19 items 4-6): one subject one account, honest levels, provenance.

Runs on a whole runtime with :class:`ProvenIdentity` values as a provider would deliver them; the
provider protocols themselves are tested in test_oidc_client.py and test_saml_flow.py, the pages in
test_identity_pages.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from vault.citizens.errors import UnknownRecord
from vault.citizens.tables import StoredAttribute
from vault.citizens.vault import CITIZEN_VIEW
from vault.identity.binding import LastMeansOfSignIn, LinkedElsewhere, NotLinked, source_of
from vault.identity.model import ProvenIdentity
from vault.identity.tables import IdentityLink

if TYPE_CHECKING:
    from vault.runtime import Runtime

ERIKA = {"given_name": "Erika", "family_name": "Mustermann", "birth_date": "1964-08-12"}


async def _provider(runtime: Runtime, name: str = "Test-eID") -> str:
    assert runtime.providers is not None
    return await runtime.providers.add(
        name=name,
        kind="oidc",
        issuer=f"https://{name.lower()}.example",
        client_id="vault",
        auth_method="client_secret_basic",
        secret=b"s3cret",
        acr_map={"http://eidas.europa.eu/LoA/high": "high"},
        claims_map={},
        metadata_doc="{}",
    )


def _proven(provider_id: str, subject: str = "sub-erika", level: str = "high", **claims: object) -> ProvenIdentity:
    return ProvenIdentity(provider_id, subject, level, "acr", dict(claims or ERIKA), datetime.now(UTC))


async def _password_account(runtime: Runtime, name: str = "erika") -> str:
    assert runtime.accounts is not None
    return await runtime.accounts.register(name, "ein sehr gutes Passwort")


async def test_register_binds_the_subject_and_stores_confirmed_values(runtime: Runtime) -> None:
    assert runtime.binding is not None
    assert runtime.vault is not None
    pid = await _provider(runtime)
    citizen = await runtime.binding.register(_proven(pid))
    assert await runtime.binding.identity_level(citizen) == "high"
    assert await runtime.binding.sign_in(_proven(pid)) == citizen
    values = await runtime.vault.read_attributes(citizen, CITIZEN_VIEW)
    assert {k: v.value for k, v in values.items()} == ERIKA
    assert {v.source for v in values.values()} == {source_of(pid)}
    with pytest.raises(LinkedElsewhere):  # the same eID cannot make a second account
        await runtime.binding.register(_proven(pid))


async def test_one_subject_belongs_to_one_account(runtime: Runtime) -> None:
    assert runtime.binding is not None
    pid = await _provider(runtime)
    first, second = await _password_account(runtime, "first"), await _password_account(runtime, "second")
    await runtime.binding.link(first, _proven(pid))
    with pytest.raises(LinkedElsewhere):
        await runtime.binding.link(second, _proven(pid))
    assert await runtime.binding.links(second) == []
    assert await runtime.binding.identity_level(second) == "basic"
    # the same subject at another provider is another identity
    other = await _provider(runtime, "Other")
    await runtime.binding.link(second, _proven(other))
    assert await runtime.binding.identity_level(second) == "high"


async def test_unknown_subject_does_not_sign_in(runtime: Runtime) -> None:
    assert runtime.binding is not None
    pid = await _provider(runtime)
    with pytest.raises(NotLinked):
        await runtime.binding.sign_in(_proven(pid, subject="nobody"))


async def test_link_and_unlink_are_log_entries_and_unlink_lowers_the_level_at_once(runtime: Runtime) -> None:
    assert runtime.binding is not None
    assert runtime.session_service is not None
    pid = await _provider(runtime)
    citizen = await _password_account(runtime)
    token, _ = await runtime.session_service.start(citizen, "high")  # as an eID sign-in would
    before = await runtime.session_service.resolve(token)
    assert before is not None
    assert before.assurance == "basic"  # identity not proven yet: the session is capped
    await runtime.binding.link(citizen, _proven(pid))
    linked = await runtime.session_service.resolve(token)
    assert linked is not None
    assert (linked.assurance, linked.identity_level, linked.method_level) == ("high", "high", "high")
    [link] = await runtime.binding.links(citizen)
    await runtime.binding.unlink(citizen, link.id)
    after = await runtime.session_service.resolve(token)
    assert after is not None
    assert after.assurance == "basic"
    from vault.citizens.history import history

    assert runtime.log is not None
    entries, _ = await history(runtime.engine, runtime.log, citizen, limit=20)
    actions = [(e.action, e.service) for e in entries]
    assert ("link", pid) in actions
    assert ("unlink", pid) in actions


async def test_unlinking_another_accounts_link_is_unknown(runtime: Runtime) -> None:
    assert runtime.binding is not None
    pid = await _provider(runtime)
    owner, thief = await _password_account(runtime, "owner"), await _password_account(runtime, "thief")
    await runtime.binding.link(owner, _proven(pid))
    [link] = await runtime.binding.links(owner)
    with pytest.raises(UnknownRecord):
        await runtime.binding.unlink(thief, link.id)
    assert len(await runtime.binding.links(owner)) == 1


async def test_the_last_way_to_sign_in_cannot_be_unlinked(runtime: Runtime) -> None:
    assert runtime.binding is not None
    pid = await _provider(runtime)
    citizen = await runtime.binding.register(_proven(pid))  # no password, no passkey
    [link] = await runtime.binding.links(citizen)
    with pytest.raises(LastMeansOfSignIn):
        await runtime.binding.unlink(citizen, link.id)
    assert await runtime.binding.identity_level(citizen) == "high"


async def test_a_lower_sign_in_does_not_lower_the_link_and_a_higher_one_raises_it(runtime: Runtime) -> None:
    assert runtime.binding is not None
    pid = await _provider(runtime)
    citizen = await _password_account(runtime)
    await runtime.binding.link(citizen, _proven(pid, level="substantial"))
    assert await runtime.binding.identity_level(citizen) == "substantial"
    await runtime.binding.sign_in(_proven(pid, level="basic"))
    assert await runtime.binding.identity_level(citizen) == "substantial"
    await runtime.binding.sign_in(_proven(pid, level="high"))
    assert await runtime.binding.identity_level(citizen) == "high"


async def test_an_edit_keeps_the_edit_and_drops_the_mark_and_history_keeps_the_confirmed_value(
    runtime: Runtime,
) -> None:
    assert runtime.binding is not None
    assert runtime.vault is not None
    pid = await _provider(runtime)
    citizen = await runtime.binding.register(_proven(pid))
    await runtime.vault.set_attribute(citizen, "family_name", "Musterfrau")
    values = await runtime.vault.read_attributes(citizen, CITIZEN_VIEW)
    assert (values["family_name"].value, values["family_name"].source) == ("Musterfrau", "self")
    assert values["given_name"].source == source_of(pid)
    async with runtime.sessions() as db:
        versions = (
            await db.execute(
                select(StoredAttribute.version, StoredAttribute.source).where(
                    StoredAttribute.citizen_id == citizen, StoredAttribute.name == "family_name"
                )
            )
        ).all()
    assert sorted(versions) == [(1, source_of(pid)), (2, "self")]
    # a later sign-in does not overwrite the citizen's edit
    await runtime.binding.sign_in(_proven(pid))
    again = await runtime.vault.read_attributes(citizen, CITIZEN_VIEW)
    assert again["family_name"].value == "Musterfrau"


async def test_erasure_frees_the_subject(runtime: Runtime) -> None:
    assert runtime.binding is not None
    assert runtime.accounts is not None
    pid = await _provider(runtime)
    citizen = await runtime.binding.register(_proven(pid))
    await runtime.accounts.erase(citizen)
    async with runtime.sessions() as db:
        assert await db.scalar(select(IdentityLink.id).where(IdentityLink.citizen_id == citizen)) is None
    again = await runtime.binding.register(_proven(pid))
    assert again != citizen


async def test_a_passkey_is_capped_by_the_identity_level_at_enrolment() -> None:
    from vault.citizens.reauth import effective_level, enrolled_assurance, highest_level

    # a password session on an unproven account: basic; a passkey it enrols: basic
    assert enrolled_assurance(effective_level("basic", "basic")) == "basic"
    # an eID sign-in at high on a proven account: the passkey it enrols is substantial (the ceiling)
    assert enrolled_assurance(effective_level("high", "high")) == "substantial"
    # an eID sign-in at high before the identity is bound (level basic) cannot mint more
    assert enrolled_assurance(effective_level("high", "basic")) == "basic"
    # highest level: passkeys and links, none above the identity level now
    assert highest_level(["substantial"], "basic", []) == "basic"
    assert highest_level(["substantial"], "high", ["high"]) == "high"
    assert highest_level(["substantial"], "substantial", []) == "substantial"
