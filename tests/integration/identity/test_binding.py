"""Accounts bound to eID subjects (issue 19 items 4-6): one subject one account, honest levels, provenance.

Runs on a whole runtime with :class:`ProvenIdentity` values as a provider would deliver them; the
provider protocols themselves are tested in test_oidc_client.py and test_saml_flow.py, the pages in
test_identity_pages.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from vault.citizens.errors import UnknownRecord
from vault.citizens.tables import StoredAttribute
from vault.citizens.vault import CITIZEN_VIEW
from vault.identity.binding import LastMeansOfSignIn, LinkedElsewhere, NotLinked, link_of, source_of
from vault.identity.model import ProvenIdentity
from vault.identity.tables import IdentityLink

if TYPE_CHECKING:
    from vault.runtime import Runtime

ERIKA = {"given_name": "Erika", "family_name": "Mustermann", "birth_date": "1964-08-12"}


async def _provider(runtime: Runtime, name: str = "Test-eID") -> str:
    return await runtime.services.providers.add(
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
    return await runtime.services.accounts.register(name, "ein sehr gutes Passwort")


async def test_register_binds_the_subject_and_stores_confirmed_values(runtime: Runtime) -> None:
    pid = await _provider(runtime)
    citizen = await runtime.services.binding.register(_proven(pid))
    assert await runtime.services.binding.identity_level(citizen) == "high"
    assert await runtime.services.binding.sign_in(_proven(pid)) == citizen
    values = await runtime.services.vault.read_attributes(citizen, CITIZEN_VIEW)
    assert {k: v.value for k, v in values.items()} == ERIKA
    [link] = await runtime.services.binding.links(citizen)
    assert {v.source for v in values.values()} == {source_of(pid, link.id)}
    with pytest.raises(LinkedElsewhere):  # the same eID cannot make a second account
        await runtime.services.binding.register(_proven(pid))


async def test_one_subject_belongs_to_one_account(runtime: Runtime) -> None:
    pid = await _provider(runtime)
    first, second = await _password_account(runtime, "first"), await _password_account(runtime, "second")
    await runtime.services.binding.link(first, _proven(pid))
    with pytest.raises(LinkedElsewhere):
        await runtime.services.binding.link(second, _proven(pid))
    assert await runtime.services.binding.links(second) == []
    assert await runtime.services.binding.identity_level(second) == "basic"
    # the same subject at another provider is another identity
    other = await _provider(runtime, "Other")
    await runtime.services.binding.link(second, _proven(other))
    assert await runtime.services.binding.identity_level(second) == "high"


async def test_unknown_subject_does_not_sign_in(runtime: Runtime) -> None:
    pid = await _provider(runtime)
    with pytest.raises(NotLinked):
        await runtime.services.binding.sign_in(_proven(pid, subject="nobody"))


async def test_link_and_unlink_are_log_entries_and_unlink_lowers_the_level_at_once(runtime: Runtime) -> None:
    pid = await _provider(runtime)
    citizen = await _password_account(runtime)
    token, _ = await runtime.services.session_service.start(citizen, "high")  # as an eID sign-in would
    before = await runtime.services.session_service.resolve(token)
    assert before is not None
    assert before.assurance == "basic"  # identity not proven yet: the session is capped
    await runtime.services.binding.link(citizen, _proven(pid))
    linked = await runtime.services.session_service.resolve(token)
    assert linked is not None
    assert (linked.assurance, linked.identity_level, linked.method_level) == ("high", "high", "high")
    [link] = await runtime.services.binding.links(citizen)
    await runtime.services.binding.unlink(citizen, link.id)
    after = await runtime.services.session_service.resolve(token)
    assert after is not None
    assert after.assurance == "basic"
    from vault.citizens.history import history

    entries, _ = await history(runtime.engine, runtime.services.log, citizen, limit=20)
    actions = [(e.action, e.service) for e in entries]
    assert ("link", pid) in actions
    assert ("unlink", pid) in actions


async def test_unlinking_another_accounts_link_is_unknown(runtime: Runtime) -> None:
    pid = await _provider(runtime)
    owner, thief = await _password_account(runtime, "owner"), await _password_account(runtime, "thief")
    await runtime.services.binding.link(owner, _proven(pid))
    [link] = await runtime.services.binding.links(owner)
    with pytest.raises(UnknownRecord):
        await runtime.services.binding.unlink(thief, link.id)
    assert len(await runtime.services.binding.links(owner)) == 1


async def test_the_last_way_to_sign_in_cannot_be_unlinked(runtime: Runtime) -> None:
    pid = await _provider(runtime)
    citizen = await runtime.services.binding.register(_proven(pid))  # no password, no passkey
    [link] = await runtime.services.binding.links(citizen)
    with pytest.raises(LastMeansOfSignIn):
        await runtime.services.binding.unlink(citizen, link.id)
    assert await runtime.services.binding.identity_level(citizen) == "high"


async def test_a_lower_sign_in_does_not_lower_the_link_and_a_higher_one_raises_it(runtime: Runtime) -> None:
    pid = await _provider(runtime)
    citizen = await _password_account(runtime)
    await runtime.services.binding.link(citizen, _proven(pid, level="substantial"))
    assert await runtime.services.binding.identity_level(citizen) == "substantial"
    await runtime.services.binding.sign_in(_proven(pid, level="basic"))
    assert await runtime.services.binding.identity_level(citizen) == "substantial"
    await runtime.services.binding.sign_in(_proven(pid, level="high"))
    assert await runtime.services.binding.identity_level(citizen) == "high"


async def test_an_edit_keeps_the_edit_and_drops_the_mark_and_history_keeps_the_confirmed_value(
    runtime: Runtime,
) -> None:
    pid = await _provider(runtime)
    citizen = await runtime.services.binding.register(_proven(pid))
    await runtime.services.vault.set_attribute(citizen, "family_name", "Musterfrau")
    values = await runtime.services.vault.read_attributes(citizen, CITIZEN_VIEW)
    assert (values["family_name"].value, values["family_name"].source) == ("Musterfrau", "self")
    [link] = await runtime.services.binding.links(citizen)
    assert values["given_name"].source == source_of(pid, link.id)
    async with runtime.sessions() as db:
        versions = (
            await db.execute(
                select(StoredAttribute.version, StoredAttribute.source).where(
                    StoredAttribute.citizen_id == citizen, StoredAttribute.name == "family_name"
                )
            )
        ).all()
    assert sorted(versions) == [(1, source_of(pid, link.id)), (2, "self")]
    # a later sign-in does not overwrite the citizen's edit
    await runtime.services.binding.sign_in(_proven(pid))
    again = await runtime.services.vault.read_attributes(citizen, CITIZEN_VIEW)
    assert again["family_name"].value == "Musterfrau"


async def test_erasure_frees_the_subject(runtime: Runtime) -> None:
    pid = await _provider(runtime)
    citizen = await runtime.services.binding.register(_proven(pid))
    await runtime.services.accounts.erase(citizen)
    async with runtime.sessions() as db:
        assert await db.scalar(select(IdentityLink.id).where(IdentityLink.citizen_id == citizen)) is None
    again = await runtime.services.binding.register(_proven(pid))
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


async def test_a_provider_answer_below_substantial_links_and_creates_nothing(runtime: Runtime) -> None:
    """A provider's ``basic`` proves no identity: no account from it, no link, no "confirmed" values."""
    from vault.identity.binding import LevelTooLow

    pid = await _provider(runtime)
    citizen = await _password_account(runtime)
    with pytest.raises(LevelTooLow):
        await runtime.services.binding.link(citizen, _proven(pid, level="basic"))
    with pytest.raises(LevelTooLow):
        await runtime.services.binding.register(_proven(pid, subject="other", level="basic"))
    assert await runtime.services.binding.links(citizen) == []
    async with runtime.sessions() as db:
        assert await db.scalar(select(func.count()).select_from(IdentityLink)) == 0
        assert await db.scalar(select(func.count()).select_from(StoredAttribute)) == 0


async def test_linking_keeps_the_citizens_different_values_and_confirms_equal_and_missing_ones(
    runtime: Runtime,
) -> None:
    pid = await _provider(runtime)
    citizen = await _password_account(runtime)
    await runtime.services.vault.set_attribute(citizen, "given_name", "Erika")  # the same as the ID
    await runtime.services.vault.set_attribute(citizen, "family_name", "Musterfrau")  # differs
    differs = await runtime.services.binding.link(citizen, _proven(pid))
    assert differs == ["family_name"]
    values = await runtime.services.vault.read_attributes(citizen, CITIZEN_VIEW)
    assert (values["family_name"].value, values["family_name"].source) == ("Musterfrau", "self")
    [link] = await runtime.services.binding.links(citizen)
    assert (values["given_name"].value, values["given_name"].source) == ("Erika", source_of(pid, link.id))
    assert (values["birth_date"].value, values["birth_date"].source) == ("1964-08-12", source_of(pid, link.id))


async def test_an_account_has_one_id_per_provider(runtime: Runtime) -> None:
    from vault.identity.binding import OtherSubjectLinked

    pid = await _provider(runtime)
    citizen = await _password_account(runtime)
    await runtime.services.binding.link(citizen, _proven(pid))
    with pytest.raises(OtherSubjectLinked):
        await runtime.services.binding.link(citizen, _proven(pid, subject="sub-mallory", given_name="Mallory"))
    assert len(await runtime.services.binding.links(citizen)) == 1
    assert (await runtime.services.vault.read_attributes(citizen, CITIZEN_VIEW))["given_name"].value == "Erika"


async def test_signing_in_or_linking_again_stores_nothing(runtime: Runtime) -> None:
    """A value the citizen deleted or edited after linking stays as the citizen left it."""
    pid = await _provider(runtime)
    citizen = await runtime.services.binding.register(_proven(pid))
    await runtime.services.vault.delete_attribute(citizen, "birth_date")
    await runtime.services.vault.set_attribute(citizen, "given_name", "Eri")
    await runtime.services.binding.sign_in(_proven(pid))
    assert await runtime.services.binding.link(citizen, _proven(pid)) == []  # the same subject again
    values = await runtime.services.vault.read_attributes(citizen, CITIZEN_VIEW)
    assert "birth_date" not in values
    assert (values["given_name"].value, values["given_name"].source) == ("Eri", "self")


async def test_a_disabled_provider_vouches_for_nothing_and_enabling_restores_it(runtime: Runtime) -> None:
    pid = await _provider(runtime)
    citizen = await _password_account(runtime)
    await runtime.services.binding.link(citizen, _proven(pid))
    assert await runtime.services.passkeys.highest_assurance(citizen) == "high"
    assert list((await runtime.services.binding.confirmations(citizen)).values()) == [(pid, "high")]
    assert await runtime.services.providers.disable(pid)
    assert await runtime.services.binding.identity_level(citizen) == "basic"
    # a recent sign-in is no longer demanded at a level nobody can reach: the password suffices again
    assert await runtime.services.passkeys.highest_assurance(citizen) == "basic"
    assert await runtime.services.binding.confirmations(citizen) == {}
    assert await runtime.services.providers.enable(pid)
    assert await runtime.services.binding.identity_level(citizen) == "high"
    assert list((await runtime.services.binding.confirmations(citizen)).values()) == [(pid, "high")]


async def test_an_id_only_account_whose_provider_is_disabled_keeps_its_link(runtime: Runtime) -> None:
    """The last-way-in rule counts enabled providers only, so the disabled link cannot be the reason to keep
    it; but an account with no other way in cannot be left with none either."""
    first, second = await _provider(runtime, "First"), await _provider(runtime, "Second")
    citizen = await runtime.services.binding.register(_proven(first))
    await runtime.services.binding.link(citizen, _proven(second, subject="sub-2"))
    await runtime.services.providers.disable(second)
    links = {link.provider_id: link.id for link in await runtime.services.binding.links(citizen)}
    with pytest.raises(LastMeansOfSignIn):  # the disabled one is no way in: the first must stay
        await runtime.services.binding.unlink(citizen, links[first])
    await runtime.services.binding.unlink(citizen, links[second])  # the disabled one may go


async def test_the_same_provider_cannot_be_registered_twice(runtime: Runtime) -> None:
    from vault.identity.providers import ProviderInvalid

    pid = await _provider(runtime)
    with pytest.raises(ProviderInvalid) as refused:
        await _provider(runtime)  # same issuer and client id
    assert refused.value.field == "issuer"
    assert pid in refused.value.reason
    await runtime.services.providers.disable(pid)
    again = await _provider(runtime)  # a replacement once the old one is disabled
    with pytest.raises(ProviderInvalid):
        await runtime.services.providers.enable(pid)  # two enabled twins would split the subjects
    assert again != pid


async def test_an_unlink_racing_a_sign_in_through_another_link_still_lowers_the_level(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sign-in reads the links, an unlink of the high link commits, the sign-in stores what it read.

    Without the account lock the sign-in wrote back ``high`` from its stale read on PostgreSQL (the
    attacker review showed it); with it the unlink waits and the level ends ``substantial``.
    """
    import asyncio

    from sqlalchemy import update

    from vault.citizens.tables import Citizen
    from vault.identity import binding as binding_module
    from vault.identity.binding import best_level
    from vault.identity.tables import enabled_links

    first, second = await _provider(runtime, "First"), await _provider(runtime, "Second")
    citizen = await _password_account(runtime)
    await runtime.services.binding.link(citizen, _proven(first, subject="sub-a", level="high"))
    await runtime.services.binding.link(citizen, _proven(second, subject="sub-b", level="substantial"))
    high_link = next(link.id for link in await runtime.services.binding.links(citizen) if link.provider_id == first)
    read, go_on = asyncio.Event(), asyncio.Event()
    original = binding_module.refresh_level

    async def read_then_wait_then_write(db: Any, citizen_id: str) -> None:
        task = asyncio.current_task()
        if task is None or task.get_name() != "sign-in":
            return await original(db, citizen_id)
        query = enabled_links().where(IdentityLink.citizen_id == citizen_id)
        levels = [link.level for link in (await db.execute(query)).scalars()]
        read.set()
        await go_on.wait()
        await db.execute(update(Citizen).where(Citizen.id == citizen_id).values(identity_level=best_level(levels)))
        return None

    monkeypatch.setattr(binding_module, "refresh_level", read_then_wait_then_write)
    proven = _proven(second, subject="sub-b", level="substantial")
    signing_in = asyncio.create_task(runtime.services.binding.sign_in(proven), name="sign-in")
    await read.wait()
    unlinking = asyncio.create_task(runtime.services.binding.unlink(citizen, high_link))
    await asyncio.sleep(0.5)  # long enough for the unlink to commit, were it not waiting for the account
    go_on.set()
    await asyncio.gather(signing_in, unlinking)
    assert await runtime.services.binding.identity_level(citizen) == "substantial"


async def test_a_mark_belongs_to_the_link_not_to_the_provider(runtime: Runtime) -> None:
    """Erika's ID is unlinked, Max's ID at the same provider is linked: Erika's values are no longer confirmed
    by anyone (before, the provider-wide mark made Max's link vouch for Erika's name)."""
    pid = await _provider(runtime)
    citizen = await _password_account(runtime)
    await runtime.services.binding.link(citizen, _proven(pid, subject="sub-erika"))
    [erika] = await runtime.services.binding.links(citizen)
    await runtime.services.binding.unlink(citizen, erika.id)
    max_claims = {"given_name": "Max", "family_name": "Mustermann", "birth_date": "1990-01-31"}
    differs = await runtime.services.binding.link(citizen, _proven(pid, subject="sub-max", **max_claims))
    assert differs == ["given_name", "birth_date"]
    [max_link] = await runtime.services.binding.links(citizen)
    confirmed = await runtime.services.binding.confirmations(citizen)
    values = await runtime.services.vault.read_attributes(citizen, CITIZEN_VIEW)
    assert link_of(values["given_name"].source) == erika.id  # Erika's, from the link that is gone
    assert link_of(values["given_name"].source) not in confirmed
    assert link_of(values["family_name"].source) == max_link.id  # the same value: now Max's link vouches


async def test_a_second_provider_confirms_a_value_the_citizen_typed(runtime: Runtime) -> None:
    """An equal value typed by the citizen is confirmed by a later, weaker link too (only a stronger mark stays)."""
    strong, weak = await _provider(runtime, "Strong"), await _provider(runtime, "Weak")
    citizen = await _password_account(runtime)
    await runtime.services.vault.set_attribute(citizen, "given_name", "Erika")
    await runtime.services.binding.link(citizen, _proven(strong, subject="a", family_name="Mustermann"))
    await runtime.services.binding.link(citizen, _proven(weak, subject="b", level="substantial", **ERIKA))
    values = await runtime.services.vault.read_attributes(citizen, CITIZEN_VIEW)
    links = {link.provider_id: link.id for link in await runtime.services.binding.links(citizen)}
    assert link_of(values["given_name"].source) == links[weak]  # was the citizen's own: now confirmed
    assert link_of(values["family_name"].source) == links[strong]  # the stronger mark stays
