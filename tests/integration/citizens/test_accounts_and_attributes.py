"""Accounts and attributes on both databases: sealed, versioned, logged, validated."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, update

from vault.citizens.attributes import AttributeInvalid
from vault.citizens.errors import InvalidCredentials, LoginTaken, UnknownCitizen
from vault.citizens.tables import Citizen, StoredAttribute
from vault.citizens.vault import CITIZEN_VIEW
from vault.crypto import aead
from vault.crypto.passwords import PasswordHasher, PasswordPolicy
from vault.transparency.records import decode_record
from vault.transparency.tables import LogEntry

if TYPE_CHECKING:
    from vault.runtime import Runtime

ADDRESS = {
    "street": "Zauberflötenweg",
    "house_number": "12a",
    "postal_code": "10115",
    "city": "Berlin",
    "country": "DE",
}


async def _log_actions(rt: Runtime) -> list[tuple[str, str, tuple[str, ...]]]:
    async with rt.engine.connect() as conn:
        rows = (await conn.execute(select(LogEntry.record).order_by(LogEntry.id))).scalars().all()
    return [(r.actor, r.action, r.fields) for r in map(decode_record, rows)]


async def test_register_authenticate_and_show_login(runtime: Runtime) -> None:
    accounts = runtime.services.accounts
    assert accounts is not None
    cid = await accounts.register("Erika.Mustermann@example.de", "correct horse battery staple")
    assert await accounts.authenticate("erika.mustermann@EXAMPLE.de", "correct horse battery staple") == cid
    with pytest.raises(InvalidCredentials):
        await accounts.authenticate("erika.mustermann@example.de", "wrong password")
    with pytest.raises(InvalidCredentials):
        await accounts.authenticate("nobody@example.de", "correct horse battery staple")
    with pytest.raises(LoginTaken):
        await accounts.register("ERIKA.mustermann@example.de", "another password")
    assert await accounts.login_name(cid) == "Erika.Mustermann@example.de"
    assert ("citizen", "view", ("login_name",)) in await _log_actions(runtime)


async def test_password_is_rehashed_when_the_policy_rises(runtime: Runtime) -> None:
    accounts = runtime.services.accounts
    assert accounts is not None
    cid = await accounts.register("rehash-me", "a fine passphrase")
    async with runtime.sessions() as s:
        before = await s.scalar(select(Citizen.password_hash).where(Citizen.id == cid))
    accounts.hasher = PasswordHasher(PasswordPolicy(memory_cost=2048, time_cost=2))
    assert await accounts.authenticate("rehash-me", "a fine passphrase") == cid
    async with runtime.sessions() as s:
        after = await s.scalar(select(Citizen.password_hash).where(Citizen.id == cid))
    assert after != before
    assert "m=2048,t=2" in (after or "")
    assert await accounts.authenticate("rehash-me", "a fine passphrase") == cid


async def test_a_login_burst_never_exceeds_the_hashing_cap(runtime: Runtime) -> None:
    accounts = runtime.services.accounts
    assert accounts is not None
    accounts.hasher = PasswordHasher(PasswordPolicy(memory_cost=8192, time_cost=2), max_concurrent=2)
    await accounts.register("burst", "burst password")
    accounts.hasher = PasswordHasher(PasswordPolicy(memory_cost=8192, time_cost=2), max_concurrent=2)
    attempts = [accounts.authenticate("burst", "burst password" if i % 2 else "wrong") for i in range(40)]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    assert sum(isinstance(r, str) for r in results) == 20
    assert all(isinstance(r, str | InvalidCredentials) for r in results)
    assert accounts.hasher.max_in_flight_seen == 2


async def test_attributes_are_versioned_sealed_and_logged(runtime: Runtime) -> None:
    vault = runtime.services.vault
    cid = await runtime.services.accounts.register("attr-user", "attr password")
    first = await vault.set_attribute(cid, "address", ADDRESS)
    moved = {**ADDRESS, "street": "Papagenostraße", "house_number": "7"}
    second = await vault.set_attribute(cid, "address", moved, source="agency-meldeamt")
    await vault.set_attribute(cid, "family_name", "  Mustermann ")
    assert (first.version, second.version) == (1, 2)
    got = await vault.read_attributes(cid, CITIZEN_VIEW)
    assert got["address"].value == moved
    assert got["address"].source == "agency-meldeamt"
    assert got["address"].version == 2
    assert got["family_name"].value == "Mustermann"
    only = await vault.read_attributes(cid, CITIZEN_VIEW, names=("family_name",))
    assert list(only) == ["family_name"]
    async with runtime.sessions() as s:
        versions = (
            await s.execute(
                select(StoredAttribute.version, StoredAttribute.current)
                .where(StoredAttribute.citizen_id == cid, StoredAttribute.name == "address")
                .order_by(StoredAttribute.version)
            )
        ).all()
    assert [(v.version, v.current) for v in versions] == [(1, False), (2, True)]
    actions = await _log_actions(runtime)
    assert ("citizen", "write", ("address",)) in actions
    assert ("citizen", "view", ("address", "family_name")) in actions
    assert ("citizen", "view", ("family_name",)) in actions


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("birth_date", "1990-02-30", "birth_date"),
        ("tax_id", "86095742718", "tax_id"),
        ("iban", "DE89370400440532013001", "iban"),
        ("address", {**ADDRESS, "postal_code": "1011"}, "address.postal_code"),
        ("nationality", "XX", "nationality"),
        ("shoe_size", "44", "shoe_size"),
    ],
)
async def test_invalid_attributes_name_the_field_and_store_nothing(
    runtime: Runtime, name: str, value: object, field: str
) -> None:
    cid = await runtime.services.accounts.register(f"invalid-{name}", "some password")
    entries_before = len(await _log_actions(runtime))
    with pytest.raises(AttributeInvalid) as info:
        await runtime.services.vault.set_attribute(cid, name, value)
    assert info.value.field == field
    assert await runtime.services.vault.read_attributes(cid, CITIZEN_VIEW) == {}
    assert len(await _log_actions(runtime)) == entries_before + 1  # only the (empty) view just now


async def test_a_ciphertext_moved_to_another_citizen_does_not_open(runtime: Runtime) -> None:
    a = await runtime.services.accounts.register("citizen-a", "password a")
    b = await runtime.services.accounts.register("citizen-b", "password b")
    await runtime.services.vault.set_attribute(a, "family_name", "Alpha")
    await runtime.services.vault.set_attribute(b, "family_name", "Beta")
    async with runtime.sessions.begin() as s:
        ct_a = await s.scalar(select(StoredAttribute.ciphertext).where(StoredAttribute.citizen_id == a))
        await s.execute(update(StoredAttribute).where(StoredAttribute.citizen_id == b).values(ciphertext=ct_a))
    with pytest.raises(aead.InvalidCiphertext):
        await runtime.services.vault.read_attributes(b, CITIZEN_VIEW)


async def test_unknown_citizen_is_refused(runtime: Runtime) -> None:
    with pytest.raises(UnknownCitizen):
        await runtime.services.vault.read_attributes("00000000-0000-0000-0000-000000000000", CITIZEN_VIEW)
    with pytest.raises(UnknownCitizen):
        await runtime.services.vault.set_attribute("00000000-0000-0000-0000-000000000000", "family_name", "X")
