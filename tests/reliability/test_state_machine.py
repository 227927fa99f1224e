"""Any sequence of register, set, approve, read, revoke, expire, erase and rotate-root keeps the promises.

A hypothesis state machine drives the real domain services on a migrated database (SQLite and
PostgreSQL, a fresh copy per example: ``stateful_world.py``) beside a model of what must be true
(``stateful_model.py``). The agency's side is played through the real protocol: PAR, the citizen's
approval, the code exchange with PKCE and DPoP, and reads through :class:`~vault.consent.reads.DataReads`
with DPoP-bound tokens and fresh proofs signed by the agency's key; "served" means the vault returned
decrypted values. The one shortcut is ``expire``, which moves the grant's ``expires_at`` to now in
the database (the read path takes no injected time).

Rules: register, set and delete an attribute, approve (once or ongoing, all or some fields), read
(any grant; an active one; several in one group-committed transaction), reads racing a revoke, an
erasure, a root rotation or the log's integrator, refresh, the agency revoking a token, the citizen
revoking a grant, expire, the citizen's own view, erase, rotate-root (``vault keys rotate-root``'s
code with its own engine and key file handle), restart, integrate.

Checked at every step:

* **No read after revoke**: a read is served only if its grant was active (not revoked, used up,
  expired or ended by the erasure) and its token live, and must be unless a racing action may end
  it; the values are exactly the model's for the granted fields. In the log, every ``read`` entry
  of a grant comes before the grant's ``revoke`` entry and its citizen's ``erase`` entry.
* **Every served read is logged**: its entry is committed when the data is returned and its
  commitment opens to the access; its signed promise verifies and, once integrated, its receipt's
  inclusion proof verifies against the signed checkpoint. Per grant there are exactly as many
  ``read`` entries as reads served: a refused read leaves none.
* **The log verifies**: each new checkpoint's signature, its root recomputed from all leaves, and a
  consistency proof from the previous checkpoint this example saw.
* **Erased means unreadable**: the wrapped key, attributes and login are gone, the citizen's data
  key is not among the keys left in the database, and none of those keys opens any ciphertext the
  citizen ever had — through rotations and restarts.

CI runs a short version; ``make stateful`` a long one (``VAULT_STATEFUL_EXAMPLES``, ``VAULT_STATEFUL_STEPS``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.reliability.stateful_model import (
    Before,
    CitizenModel,
    GrantModel,
    LogAuditor,
    Served,
    TokenModel,
    check_consent_receipt,
    check_entry,
    check_promise,
    check_reads_accounted,
    check_shredded,
    current_ciphertext,
    login_ciphertext,
    set_expiry,
    wrapped_key,
    wrapped_keys,
)
from tests.reliability.stateful_world import OPTIONAL_FIELDS, PASSWORD, SERVICE_FIELDS, SERVICES, World, build_template
from vault.bootstrap import check_root_key
from vault.citizens.errors import UnknownCitizen, UnknownRecord
from vault.citizens.vault import CITIZEN_VIEW
from vault.consent.errors import OAuthError
from vault.consent.grants import GrantNotActive
from vault.crypto import aead
from vault.crypto.rootkey import FileRootKey
from vault.crypto.rotation import rotate_root
from vault.db.engine import create_engine

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from tests.reliability.stateful_world import Template
    from vault.consent.reads import DataRead

EXAMPLES = int(os.environ.get("VAULT_STATEFUL_EXAMPLES", "30"))  # per database: about 25 s each on 2 cores
STEPS = int(os.environ.get("VAULT_STATEFUL_STEPS", "40"))

#: Valid values, already in their normalised form. ``phone`` is in no service: never handed out.
VALUES: dict[str, list[Any]] = {
    "given_name": ["Erika", "Jürgen"],
    "family_name": ["Mustermann", "Gabler"],
    "birth_date": ["1964-08-12", "2001-02-28"],
    "address": [
        {"street": "Heidestraße", "house_number": "17", "postal_code": "51147", "city": "Köln", "country": "DE"}
    ],
    "email": ["erika@example.de"],
    "phone": ["+4922112345678"],
}
ASSIGNMENTS = st.sampled_from([(name, value) for name, values in VALUES.items() for value in values])
FIELD_CHOICES = st.none() | st.lists(st.sampled_from(SERVICE_FIELDS + OPTIONAL_FIELDS), unique=True, max_size=5)
REFUSED = (GrantNotActive, OAuthError)
RACING = ("revoke", "erase", "rotate", "integrate")


def _is_read(outcome: Any) -> bool:
    return not isinstance(outcome, BaseException)


class VaultMachine(RuleBasedStateMachine):
    """The model beside the real vault; every rule acts on both and compares."""

    template: ClassVar[Template]

    citizens = Bundle("citizens")
    grants = Bundle("grants")
    active_grants = grants.filter(lambda grant: grant.ended is None)

    def __init__(self) -> None:
        super().__init__()
        self.world = World(self.template)
        self.served: list[Served] = []
        self.auditor = LogAuditor()
        self.root_version = 1
        self.logins = 0
        self.all_citizens: list[CitizenModel] = []
        self.all_grants: list[GrantModel] = []

    def teardown(self) -> None:
        self.world.close()

    def run(self, coroutine: Any) -> Any:
        return self.world.run(coroutine)

    @property
    def rt(self) -> Any:
        return self.world.runtime

    # -- rules ------------------------------------------------------------------------------------

    @initialize(target=citizens)
    def first_citizen(self) -> CitizenModel:
        return self._register()

    @rule(target=citizens)
    def register(self) -> CitizenModel:
        return self._register()

    def _register(self) -> CitizenModel:
        self.logins += 1
        citizen_id = self.run(self.rt.services.accounts.register(f"buerger-{self.logins}@example.de", PASSWORD))
        wrapped = self.run(wrapped_key(self.rt, citizen_id))
        assert wrapped is not None
        version, blob = wrapped
        citizen = CitizenModel(citizen_id, self.rt.keys.root.unwrap(blob, version=version))
        login = self.run(login_ciphertext(self.rt, citizen_id))
        assert aead.open(citizen.dek, login, aead.Context(citizen_id, citizen_id, "login_name"))
        citizen.sealed.append((citizen_id, "login_name", login))
        self.all_citizens.append(citizen)
        return citizen

    @rule(citizen=citizens, assignment=ASSIGNMENTS)
    def set_attribute(self, citizen: CitizenModel, assignment: tuple[str, Any]) -> None:
        name, value = assignment
        if citizen.erased:
            with pytest.raises(UnknownCitizen):
                self.run(self.rt.services.vault.set_attribute(citizen.id, name, value))
            return
        stored = self.run(self.rt.services.vault.set_attribute(citizen.id, name, value))
        assert stored.value == value
        citizen.attributes[name] = value
        row_id, sealed = self.run(current_ciphertext(self.rt, citizen.id, name))
        context = aead.Context(citizen.id, row_id, name)
        assert aead.open(citizen.dek, sealed, context)  # the test's copy of the key opens it: a meaningful check later
        citizen.sealed.append((row_id, name, sealed))

    @rule(citizen=citizens, name=st.sampled_from(sorted(VALUES)))
    def delete_attribute(self, citizen: CitizenModel, name: str) -> None:
        if citizen.erased:
            expected: type[Exception] | None = UnknownCitizen
        else:
            expected = None if name in citizen.attributes else UnknownRecord
        if expected is not None:
            with pytest.raises(expected):
                self.run(self.rt.services.vault.delete_attribute(citizen.id, name))
            return
        self.run(self.rt.services.vault.delete_attribute(citizen.id, name))
        del citizen.attributes[name]

    @rule(target=grants, citizen=citizens, service=st.sampled_from(sorted(SERVICES)), fields=FIELD_CHOICES)
    def approve(self, citizen: CitizenModel, service: str, fields: list[str] | None) -> Any:
        if citizen.erased:
            with pytest.raises(UnknownCitizen):
                self.run(self.world.approve(citizen.id, service, fields))
            return multiple()
        response = self.run(self.world.approve(citizen.id, service, fields))
        granted = tuple(fields) if fields is not None else SERVICE_FIELDS + OPTIONAL_FIELDS
        grant = GrantModel(
            id=response["grant_id"],
            citizen=citizen,
            service=service,
            fields=granted,
            refresh_token=response["refresh_token"],
            tokens=[TokenModel(response["access_token"])],
        )
        assert response["authorization_details"][0]["fields"] == list(granted)
        self.run(check_consent_receipt(self.rt, grant))
        citizen.grants.append(grant)
        self.all_grants.append(grant)
        return grant

    @rule(grant=grants, pick=st.integers(0, 3))
    def read(self, grant: GrantModel, pick: int) -> None:
        self._reads([(grant, pick)])

    @precondition(lambda self: any(grant.ended is None for grant in self.all_grants))
    @rule(grant=active_grants, pick=st.integers(0, 3))
    def read_active(self, grant: GrantModel, pick: int) -> None:
        """Most grants end sooner or later; reads of the active ones are what can go wrong."""
        self._reads([(grant, pick)])

    @precondition(lambda self: any(grant.ended is None for grant in self.all_grants))
    @rule(picks=st.lists(st.tuples(active_grants | grants, st.integers(0, 3)), min_size=2, max_size=4))
    def read_together(self, picks: list[tuple[GrantModel, int]]) -> None:
        """Concurrent reads: they share one group-committed transaction and are judged each on its own."""
        self._reads(picks)

    @precondition(lambda self: any(grant.ended is None for grant in self.all_grants))
    @rule(
        picks=st.lists(st.tuples(active_grants | grants, st.integers(0, 3)), min_size=1, max_size=4),
        victim=active_grants,
        actions=st.lists(st.sampled_from(RACING), min_size=1, max_size=2, unique=True),
        delay=st.sampled_from([-0.01, -0.002, 0.0, 0.002, 0.01]),
    )
    def reads_race(
        self, picks: list[tuple[GrantModel, int]], victim: GrantModel, actions: list[str], delay: float
    ) -> None:
        """Reads racing a revoke of ``victim``, the erasure of its citizen, a root rotation, the log's integrator.

        Which reads win is up to the scheduler; the model only knows which may be served (those whose
        grant was active before) and which must be (those the racing actions cannot end). The log
        invariants then check that every served read's entry precedes the revoke's and the erasure's.
        """
        before = Before(victim.ended is None, victim.citizen.erased, self.run(wrapped_keys(self.rt)))
        work: dict[str, Callable[[], Awaitable[Any]]] = {
            "revoke": lambda: self.rt.services.grants.revoke(victim.citizen.id, victim.id),
            "erase": lambda: self.rt.services.accounts.erase(victim.citizen.id),
            "rotate": self._rotate,
            "integrate": lambda: self.rt.services.log.integrate(self.rt.engine),
        }

        async def later(action: str) -> Any:
            await asyncio.sleep(max(delay, 0))
            return await work[action]()

        def may_end(grant: GrantModel) -> bool:
            return (grant is victim and "revoke" in actions) or (grant.citizen is victim.citizen and "erase" in actions)

        done = self._reads(picks, [partial(later, a) for a in actions], may_end, delay=max(-delay, 0))
        self._settle(victim, dict(zip(actions, done, strict=True)), before)

    @rule(grant=grants)
    def refresh(self, grant: GrantModel) -> None:
        if grant.ended is not None:
            with pytest.raises(OAuthError):
                self.run(self.world.refresh(grant.refresh_token))
            return
        response = self.run(self.world.refresh(grant.refresh_token))
        grant.tokens.append(TokenModel(response["access_token"]))

    @rule(grant=grants, pick=st.integers(0, 3))
    def agency_revokes_token(self, grant: GrantModel, pick: int) -> None:
        token = grant.tokens[pick % len(grant.tokens)]
        self.run(self.world.revoke_token(token.value))
        token.revoked = True

    @rule(grant=grants)
    def revoke(self, grant: GrantModel) -> None:
        if grant.ended is not None:
            with pytest.raises(GrantNotActive):
                self.run(self.rt.services.grants.revoke(grant.citizen.id, grant.id))
            return
        revoked = self.run(self.rt.services.grants.revoke(grant.citizen.id, grant.id))
        assert revoked.status == "revoked"
        grant.ended = "revoked"
        for token in grant.tokens:  # revoking a grant ends every token issued under it
            token.revoked = True

    @rule(grant=grants)
    def expire(self, grant: GrantModel) -> None:
        """The one shortcut: the grant's time is up now."""
        self.run(set_expiry(self.rt, grant.id, datetime.now(UTC)))
        if grant.ended is None:
            grant.ended = "expired"

    @rule(citizen=citizens)
    def view(self, citizen: CitizenModel) -> None:
        """The citizen's own view of their data: a decryption like any other, logged before it happens."""
        if citizen.erased:
            with pytest.raises(UnknownCitizen):
                self.run(self.rt.services.vault.read_attributes_logged(citizen.id, CITIZEN_VIEW))
            return
        values, logged = self.run(self.rt.services.vault.read_attributes_logged(citizen.id, CITIZEN_VIEW))
        assert {name: v.value for name, v in values.items()} == citizen.attributes
        self.run(check_entry(self.rt, logged.commitment, citizen, "citizen", None, tuple(sorted(values))))
        self.served.append(Served(logged.commitment, citizen, None))

    @rule(citizen=citizens)
    def erase(self, citizen: CitizenModel) -> None:
        if citizen.erased:
            with pytest.raises(UnknownCitizen):
                self.run(self.rt.services.accounts.erase(citizen.id))
            return
        self.run(self.rt.services.accounts.erase(citizen.id))
        self._erased(citizen)
        with pytest.raises(UnknownCitizen):
            self.run(self.rt.services.accounts.login_name(citizen.id))

    @rule()
    def rotate_root(self) -> None:
        """``vault keys rotate-root`` beside the running vault: its own key file handle and engine."""
        keys = self.run(wrapped_keys(self.rt))
        self._rotated(self.run(self._rotate()), {keys})

    def _reads(
        self,
        picks: list[tuple[GrantModel, int]],
        beside: list[Callable[[], Awaitable[Any]]] | None = None,
        may_end: Callable[[GrantModel], bool] | None = None,
        delay: float = 0,
    ) -> list[Any]:
        """Read with the picked tokens at once (and run ``beside`` concurrently); judge each read.

        A read may be served only if its grant was active and its token live before; it must be unless
        ``may_end`` says a concurrent action may end its grant, or it is a ``once`` grant read twice
        (then exactly one is served). The reads start after ``delay`` seconds. Returns the outcomes of
        ``beside``.
        """
        tokens = [grant.tokens[pick % len(grant.tokens)] for grant, pick in picks]
        allowed = [grant.ended is None and not token.revoked for (grant, _), token in zip(picks, tokens, strict=True)]

        async def read(token: TokenModel) -> Any:
            await asyncio.sleep(delay)
            return await self.world.read(token.value)

        async def together() -> list[Any]:
            reads = [read(token) for token in tokens]
            return await asyncio.gather(*reads, *[start() for start in beside or []], return_exceptions=True)

        outcomes = self.run(together())
        results = outcomes[: len(picks)]
        ending = may_end or (lambda _grant: False)
        for (grant, _), result, may in zip(picks, results, allowed, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, REFUSED):
                raise result
            served = not isinstance(result, BaseException)
            assert may or not served, f"a read was served under {grant}"
            assert served or not may or grant.once or ending(grant), f"a read under an active {grant} was refused"
        for once in {grant for (grant, _), may in zip(picks, allowed, strict=True) if may and grant.once}:
            count = sum(1 for (grant, _), r in zip(picks, results, strict=True) if grant is once and _is_read(r))
            assert count <= 1, f"{count} reads of one {once} were served"
            assert count == 1 or ending(once), f"no read of the active {once} was served"
        for (grant, _), result in zip(picks, results, strict=True):
            if _is_read(result):
                self._served(grant, result)
        return list(outcomes[len(picks) :])

    def _settle(self, victim: GrantModel, done: dict[str, Any], before: Before) -> None:
        """Check the racing actions' outcomes against the state before the race, and apply them."""
        for outcome in done.values():
            if isinstance(outcome, BaseException) and not isinstance(outcome, (GrantNotActive, UnknownCitizen)):
                raise outcome
        if "revoke" in done:
            if isinstance(done["revoke"], BaseException):
                assert isinstance(done["revoke"], GrantNotActive)
                ended = not before.active or victim.ended is not None or "erase" in done
                assert ended, f"the revoke of the active {victim} was refused"
            else:
                assert before.active, f"the ended {victim} was revoked"
                assert victim.ended is None, f"{victim} was revoked after a read used it up"
                victim.ended = "revoked"
                for token in victim.tokens:
                    token.revoked = True
        erasing = "erase" in done and not before.erased
        if "erase" in done:
            assert isinstance(done["erase"], UnknownCitizen) if before.erased else done["erase"] is None
            if erasing:
                self._erased(victim.citizen)
        if "rotate" in done:  # a key erased before its batch came is not re-wrapped
            self._rotated(done["rotate"], {before.keys, before.keys - erasing})

    def _erased(self, citizen: CitizenModel) -> None:
        citizen.erased = True
        for grant in citizen.grants:
            grant.ended = grant.ended or "erased"

    def _rotated(self, result: Any, rewrapped: set[int]) -> None:
        """Check a finished rotation: one new version, the old one retired, every live key the same key."""
        if isinstance(result, BaseException):
            raise result
        assert result.new_version == self.root_version + 1
        assert result.retired == (self.root_version,)
        assert result.rewrapped in rewrapped
        self.root_version = result.new_version
        root = FileRootKey(self.world.settings.root_key_file, create=False)  # type: ignore[arg-type]
        assert sorted(root.versions()) == [self.root_version]
        for citizen in self.all_citizens:
            wrapped = self.run(wrapped_key(self.rt, citizen.id))
            if citizen.erased:
                assert wrapped is None
                continue
            assert wrapped is not None
            assert wrapped[0] == self.root_version
            assert root.unwrap(wrapped[1], version=wrapped[0]) == citizen.dek  # re-wrapped, the same key

    @rule()
    def restart(self) -> None:
        """The process restarts: keys from the (rotated) key file, secrets from the database."""
        pseudonym = self.rt.services.log.pseudonymizer.pseudonym("restart-probe")
        self.run(self.world.restart())
        assert self.rt.services.log.pseudonymizer.pseudonym("restart-probe") == pseudonym

    @rule()
    def integrate(self) -> None:
        self.run(self.rt.services.log.integrate(self.rt.engine))

    # -- invariants -------------------------------------------------------------------------------

    @invariant()
    def the_log_verifies(self) -> None:
        self.run(self.auditor.verify(self.rt, self.served))

    @invariant()
    def every_read_is_accounted_for(self) -> None:
        self.run(check_reads_accounted(self.rt, self.served, self.all_grants))

    @invariant()
    def erased_data_cannot_be_decrypted(self) -> None:
        erased = [c for c in self.all_citizens if c.erased]
        if erased:
            self.run(check_shredded(self.rt, erased))

    # -- helpers ----------------------------------------------------------------------------------

    def _served(self, grant: GrantModel, done: DataRead) -> None:
        values = {name: v.value for name, v in done.values.items()}
        assert values == grant.expected_values(), f"{grant} served other values than the citizen's"
        assert done.grant.id == grant.id
        fields = tuple(sorted(values)) if values else tuple(sorted(grant.fields))
        client_id = self.world.agency.client_id
        self.run(check_entry(self.rt, done.logged.commitment, grant.citizen, client_id, grant, fields))
        check_promise(self.rt, done.logged.commitment, done.logged.promise)
        grant.served += 1
        if grant.once:
            grant.ended = "used"
        self.served.append(Served(done.logged.commitment, grant.citizen, grant))

    async def _rotate(self) -> Any:
        settings_ = self.world.settings
        engine = create_engine(settings_)
        try:
            root = FileRootKey(settings_.root_key_file, create=False)  # type: ignore[arg-type]
            result = await rotate_root(engine, root)
            await check_root_key(engine, FileRootKey(settings_.root_key_file, create=False))  # type: ignore[arg-type]
            return result
        finally:
            await engine.dispose()


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A directory on a RAM disk where there is one: examples commit often, and durability is not under test."""
    ram = Path("/dev/shm")
    path = Path(tempfile.mkdtemp(prefix="vault-stateful-", dir=ram if ram.is_dir() else tmp_path))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_any_sequence_keeps_the_promises(request: pytest.FixtureRequest, database_url: str, workdir: Path) -> None:
    if database_url.startswith("postgresql"):
        template = build_template(workdir, database_url, request.getfixturevalue("pg_server"))
    else:
        template = build_template(workdir, None, None)
    machine = type("VaultMachine", (VaultMachine,), {"template": template})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
