"""The citizen's data store: attributes and documents, sealed under the citizen's key.

Every method that needs the citizen's key follows DESIGN.md §2: in one transaction it checks what
must be checked (the optional ``guard``, e.g. a grant locked ``FOR SHARE``), appends the log entry
and loads the *wrapped* key; only after that transaction has committed is the key unwrapped —
against the :class:`~vault.transparency.log.LoggedAccess` — and anything decrypted or sealed. If the
log cannot take the entry, the transaction fails and nothing is decrypted.

The history says what happened and only that: an upload is checked (type, first bytes, declared
size) before its entry is written, deletions are logged in the transaction that deletes, and every
entry about a document names it by id.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from sqlalchemy import delete, func, select, update

from vault.citizens.attributes import validate_attribute
from vault.citizens.errors import DocumentRejected, UnknownCitizen, UnknownRecord
from vault.citizens.tables import Citizen, DocumentChunk, StoredAttribute, StoredDocument
from vault.crypto import aead
from vault.crypto.datakeys import CitizenCipher, KeyDestroyed, WrappedKey, load_wrapped_key, open_cipher
from vault.transparency.records import Action, LogRecord, utc_now_iso

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from vault.crypto.kek import KeyEncryptionKey
    from vault.transparency.log import LoggedAccess, TransparencyLog

Guard = Callable[["AsyncSession"], Awaitable[None]]


class SealedAttribute(Protocol):
    """What :meth:`CitizenVault.open_attributes` needs of a stored attribute (an ORM or a Core row)."""

    id: str
    name: str
    ciphertext: bytes
    source: str
    updated_at: datetime
    version: int


CHUNK_BYTES = 256 * 1024  # fixed per-chunk cost stays ~10 % of the AES-GCM time (bench/crypto)
DEFAULT_MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
CONTENT_TYPES = {"application/pdf": b"%PDF-", "image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
CHUNKS_PER_TRANSACTION = 4  # 1 MiB of ciphertext per write transaction


class AccessReason(msgspec.Struct, frozen=True):
    """Who accesses a citizen's data and why: becomes the log record (with the fields touched)."""

    actor: str
    action: Action = "read"
    service: str | None = None
    purpose: str | None = None
    legal_basis: str | None = None
    grant_id: str | None = None


CITIZEN_VIEW = AccessReason(actor="citizen", action="view")
CITIZEN_WRITE = AccessReason(actor="citizen", action="write")
CITIZEN_DELETE = AccessReason(actor="citizen", action="delete")


class AttributeValue(msgspec.Struct, frozen=True):
    """A decrypted attribute with its provenance."""

    value: Any
    source: str
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A document's metadata (no content, no name)."""

    id: str
    kind: str
    content_type: str
    size: int
    created_at: datetime
    source: str


class CitizenVault:
    """Attributes and documents of citizens; reads and writes are logged before any key is released."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        root: KeyEncryptionKey,
        log: TransparencyLog,
        *,
        max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
        reads: async_sessionmaker[AsyncSession] | None = None,
        after_delete: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.reads = reads or sessions
        self.root = root
        self.log = log
        self.max_document_bytes = max_document_bytes
        # After a delete has committed, e.g. vault.db.engine.forget_erased (must not raise): the deleted
        # ciphertext leaves SQLite's WAL at once instead of at some later checkpoint.
        self.after_delete = after_delete

    # -- the one path to a citizen's key ----------------------------------------------------

    async def log_access(
        self,
        session: AsyncSession,
        citizen_id: str,
        reason: AccessReason,
        fields: tuple[str, ...],
        document: str | None = None,
    ) -> tuple[LoggedAccess, WrappedKey]:
        """Append the log entry for this access and load the still-wrapped key, in ``session``'s transaction."""
        record = self.log_record(citizen_id, reason, fields, document)
        access = await self.log.append(session, record, subject=citizen_id)
        try:
            wrapped = await load_wrapped_key(session, citizen_id)
        except KeyDestroyed:
            raise UnknownCitizen(citizen_id) from None
        return access, wrapped

    def log_record(
        self, citizen_id: str, reason: AccessReason, fields: tuple[str, ...], document: str | None = None
    ) -> LogRecord:
        """The log record of an access to ``fields`` (of ``document``, if about one) of this citizen's data, now."""
        return LogRecord(
            pseudonym=self.log.pseudonymizer.pseudonym(citizen_id),
            actor=reason.actor,
            action=reason.action,
            time=utc_now_iso(),
            service=reason.service,
            fields=fields,
            purpose=reason.purpose,
            legal_basis=reason.legal_basis,
            grant_id=reason.grant_id,
            document=document,
        )

    def open_attributes(
        self, wrapped: WrappedKey, access: LoggedAccess, rows: Iterable[SealedAttribute]
    ) -> dict[str, AttributeValue]:
        """Decrypt attribute rows of ``access``'s citizen; only after its log entry has committed."""
        cipher = self.cipher(wrapped, access)
        out = {}
        for row in rows:
            plain = cipher.open(row.ciphertext, row.id, row.name)
            out[row.name] = AttributeValue(msgspec.json.decode(plain), row.source, row.updated_at, row.version)
        return out

    def cipher(self, wrapped: WrappedKey, access: LoggedAccess) -> CitizenCipher:
        """The citizen's cipher; call only after the transaction of :meth:`log_access` has committed."""
        return open_cipher(self.root, wrapped, access)

    @staticmethod
    async def require_citizen(session: AsyncSession, citizen_id: str, *, lock: bool = False) -> None:
        """:class:`UnknownCitizen` unless the citizen exists and is not erased.

        With ``lock`` the citizen row is held ``FOR UPDATE`` (SQLite: the writer lock) until the
        transaction ends, so writes serialise per citizen and never land after an erasure commits.
        """
        query = select(Citizen.id).where(Citizen.id == citizen_id, Citizen.erased_at.is_(None))
        found = await session.scalar(query.with_for_update() if lock else query)
        if found is None:
            raise UnknownCitizen(citizen_id)

    # -- attributes -------------------------------------------------------------------------

    async def read_attributes(
        self,
        citizen_id: str,
        reason: AccessReason,
        names: tuple[str, ...] | None = None,
        guard: Guard | None = None,
    ) -> dict[str, AttributeValue]:
        """Decrypt the current attributes (all, or ``names``); logged as ``reason``."""
        values, _ = await self.read_attributes_logged(citizen_id, reason, names, guard)
        return values

    async def read_attributes_logged(
        self,
        citizen_id: str,
        reason: AccessReason,
        names: tuple[str, ...] | None = None,
        guard: Guard | None = None,
    ) -> tuple[dict[str, AttributeValue], LoggedAccess]:
        """:meth:`read_attributes` and the log entry it made (for the reader's receipt)."""
        async with self.sessions.begin() as session:
            await self.require_citizen(session, citizen_id)
            if guard is not None:
                await guard(session)
            query = select(StoredAttribute).where(StoredAttribute.citizen_id == citizen_id, StoredAttribute.current)
            if names is not None:
                query = query.where(StoredAttribute.name.in_(names))
            rows = (await session.execute(query.order_by(StoredAttribute.name))).scalars().all()
            fields = tuple(r.name for r in rows) if rows else tuple(sorted(names or ()))
            access, wrapped = await self.log_access(session, citizen_id, reason, fields)
        return self.open_attributes(wrapped, access, rows), access

    async def set_attribute(
        self, citizen_id: str, name: str, value: object, *, source: str = "self", reason: AccessReason = CITIZEN_WRITE
    ) -> AttributeValue:
        """Validate, seal and store a new version of ``name``; :class:`AttributeInvalid` names the field."""
        return (await self.set_attributes(citizen_id, {name: value}, source=source, reason=reason))[name]

    async def set_attributes(
        self,
        citizen_id: str,
        values: dict[str, object],
        *,
        source: str = "self",
        reason: AccessReason = CITIZEN_WRITE,
    ) -> dict[str, AttributeValue]:
        """Store new versions of several attributes under one log entry; every value is validated first."""
        normalised = {name: validate_attribute(name, value) for name, value in values.items()}
        if not normalised:
            return {}
        async with self.sessions.begin() as session:
            await self.require_citizen(session, citizen_id)
            access, wrapped = await self.log_access(session, citizen_id, reason, tuple(normalised))
        cipher = self.cipher(wrapped, access)
        now = datetime.now(UTC)
        stored: dict[str, AttributeValue] = {}
        async with self.sessions.begin() as session:
            await self.require_citizen(session, citizen_id, lock=True)
            for name, value in normalised.items():
                row_id = str(uuid.uuid4())
                sealed = cipher.seal(msgspec.json.encode(value), row_id, name)
                latest = await session.scalar(
                    select(func.max(StoredAttribute.version)).where(
                        StoredAttribute.citizen_id == citizen_id, StoredAttribute.name == name
                    )
                )
                await session.execute(
                    update(StoredAttribute)
                    .where(StoredAttribute.citizen_id == citizen_id, StoredAttribute.name == name)
                    .values(current=False)
                )
                version = (latest or 0) + 1
                session.add(
                    StoredAttribute(
                        id=row_id,
                        citizen_id=citizen_id,
                        name=name,
                        version=version,
                        current=True,
                        ciphertext=sealed,
                        source=source,
                        updated_at=now,
                    )
                )
                stored[name] = AttributeValue(value, source, now, version)
        return stored

    async def attribute_sources(self, citizen_id: str) -> dict[str, str]:
        """The source of each current attribute (metadata in clear; nothing is decrypted, nothing logged)."""
        async with self.reads() as session:
            rows = await session.execute(
                select(StoredAttribute.name, StoredAttribute.source).where(
                    StoredAttribute.citizen_id == citizen_id, StoredAttribute.current.is_(True)
                )
            )
            return {name: source for name, source in rows}

    async def delete_attribute(self, citizen_id: str, name: str) -> None:
        """Delete every version of ``name``, logged as a ``delete``; :class:`UnknownRecord` if there is none."""
        async with self.sessions.begin() as session:
            await self.require_citizen(session, citizen_id)
            result = await session.execute(
                delete(StoredAttribute).where(StoredAttribute.citizen_id == citizen_id, StoredAttribute.name == name)
            )
            if not getattr(result, "rowcount", 0):
                raise UnknownRecord(name)
            await self.log.append(session, self.log_record(citizen_id, CITIZEN_DELETE, (name,)), subject=citizen_id)
        if self.after_delete is not None:
            await self.after_delete()

    # -- documents --------------------------------------------------------------------------

    async def put_document(
        self,
        citizen_id: str,
        kind: str,
        content_type: str,
        filename: str,
        content: AsyncIterable[bytes],
        *,
        size: int | None = None,
        source: str = "self",
        reason: AccessReason = CITIZEN_WRITE,
    ) -> DocumentInfo:
        """Seal a document chunk by chunk (memory stays at one chunk); check type and size.

        The type, the content's first bytes and the declared ``size`` (when the caller knows it, as
        the HTTP API does) are checked before anything is logged: a refused upload leaves no entry.
        Only a stream that runs past the limit without a declared size, or a failure while storing,
        comes after the key was released for it; that entry stays (the key was used).
        """
        magic = CONTENT_TYPES.get(content_type)
        if magic is None:
            raise DocumentRejected(f"content type {content_type!r} is not accepted ({', '.join(CONTENT_TYPES)})")
        if size is not None and size > self.max_document_bytes:
            raise DocumentRejected(f"documents may be at most {self.max_document_bytes} bytes", too_large=True)
        head, content = await _first_bytes(content, len(magic))
        if head != magic:
            raise DocumentRejected("the content does not match its content type")
        doc_id = str(uuid.uuid4())
        async with self.sessions.begin() as session:
            await self.require_citizen(session, citizen_id)
            access, wrapped = await self.log_access(session, citizen_id, reason, (f"document:{kind}",), doc_id)
        cipher = self.cipher(wrapped, access)
        now = datetime.now(UTC)
        name_ct = cipher.seal(filename.encode(), doc_id, "filename")
        async with self.sessions.begin() as session:
            await self.require_citizen(session, citizen_id, lock=True)
            session.add(
                StoredDocument(
                    id=doc_id,
                    citizen_id=citizen_id,
                    kind=kind,
                    content_type=content_type,
                    size=0,
                    chunks=0,
                    name_ct=name_ct,
                    source=source,
                    created_at=now,
                    complete=False,
                )
            )
        try:
            size, count = await self._store_chunks(cipher, doc_id, magic, content)
        except BaseException:
            async with self.sessions.begin() as session:
                await session.execute(delete(DocumentChunk).where(DocumentChunk.document_id == doc_id))
                await session.execute(delete(StoredDocument).where(StoredDocument.id == doc_id))
            raise
        async with self.sessions.begin() as session:
            await self.require_citizen(session, citizen_id, lock=True)
            await session.execute(
                update(StoredDocument).where(StoredDocument.id == doc_id).values(size=size, chunks=count, complete=True)
            )
        return DocumentInfo(doc_id, kind, content_type, size, now, source)

    async def _store_chunks(
        self, cipher: CitizenCipher, doc_id: str, magic: bytes, content: AsyncIterable[bytes]
    ) -> tuple[int, int]:
        """Seal full chunks while more data follows; the remainder (1..CHUNK_BYTES bytes) is the final chunk."""
        writer = _ChunkWriter(self.sessions, cipher, doc_id)
        size, buffer, head = 0, bytearray(), bytearray()
        async for part in content:
            if len(head) < len(magic):
                head += part[: len(magic) - len(head)]
                if not magic.startswith(head):
                    raise DocumentRejected("the content does not match its content type")
            size += len(part)
            if size > self.max_document_bytes:
                raise DocumentRejected(f"documents may be at most {self.max_document_bytes} bytes", too_large=True)
            buffer += part
            while len(buffer) > CHUNK_BYTES:  # strictly more: the last chunk is only sealed at the end
                await writer.add(bytes(buffer[:CHUNK_BYTES]), final=False)
                del buffer[:CHUNK_BYTES]
        if bytes(head) != magic:
            raise DocumentRejected("the content does not match its content type")
        await writer.add(bytes(buffer), final=True)
        return size, writer.index

    async def document_kind(self, citizen_id: str, document_id: str) -> str | None:
        """The kind of one of the citizen's complete documents, or ``None`` (nothing decrypted)."""
        async with self.reads() as session:
            kind: str | None = await session.scalar(
                select(StoredDocument.kind).where(
                    StoredDocument.id == document_id, StoredDocument.citizen_id == citizen_id, StoredDocument.complete
                )
            )
        return kind

    async def list_documents(self, citizen_id: str) -> list[DocumentInfo]:
        """Metadata of the citizen's documents (nothing decrypted, so nothing logged)."""
        async with self.reads() as session:
            rows = (
                (
                    await session.execute(
                        select(StoredDocument)
                        .where(StoredDocument.citizen_id == citizen_id, StoredDocument.complete)
                        .order_by(StoredDocument.created_at)
                    )
                )
                .scalars()
                .all()
            )
        return [DocumentInfo(r.id, r.kind, r.content_type, r.size, r.created_at, r.source) for r in rows]

    async def delete_document(self, citizen_id: str, document_id: str) -> None:
        """Delete a document and its chunks, logged as a ``delete`` of it; :class:`UnknownRecord` if there is none."""
        async with self.sessions.begin() as session:
            await self.require_citizen(session, citizen_id, lock=True)
            kind = await session.scalar(
                select(StoredDocument.kind).where(
                    StoredDocument.id == document_id, StoredDocument.citizen_id == citizen_id
                )
            )
            if kind is None:
                raise UnknownRecord(document_id)
            await session.execute(delete(DocumentChunk).where(DocumentChunk.document_id == document_id))
            await session.execute(delete(StoredDocument).where(StoredDocument.id == document_id))
            record = self.log_record(citizen_id, CITIZEN_DELETE, (f"document:{kind}",), document_id)
            await self.log.append(session, record, subject=citizen_id)
        if self.after_delete is not None:
            await self.after_delete()

    async def read_document(
        self, citizen_id: str, document_id: str, reason: AccessReason, guard: Guard | None = None
    ) -> tuple[DocumentInfo, str, AsyncIterator[bytes]]:
        """``(info, filename, chunks)``; the read is logged before the first byte is decrypted."""
        info, name, chunks, _ = await self.read_document_logged(citizen_id, document_id, reason, guard)
        return info, name, chunks

    async def read_document_logged(
        self,
        citizen_id: str,
        document_id: str,
        reason: AccessReason,
        guard: Guard | None = None,
        kinds: tuple[str, ...] | None = None,
    ) -> tuple[DocumentInfo, str, AsyncIterator[bytes], LoggedAccess]:
        """:meth:`read_document` and its log entry; ``kinds`` limits which documents may be read (404 else)."""
        async with self.sessions.begin() as session:
            await self.require_citizen(session, citizen_id)
            doc = await session.scalar(
                select(StoredDocument).where(
                    StoredDocument.id == document_id, StoredDocument.citizen_id == citizen_id, StoredDocument.complete
                )
            )
            if doc is None or (kinds is not None and doc.kind not in kinds):
                raise UnknownRecord(document_id)
            if guard is not None:
                await guard(session)
            access, wrapped = await self.log_access(session, citizen_id, reason, (f"document:{doc.kind}",), doc.id)
        cipher = self.cipher(wrapped, access)
        name = cipher.open(doc.name_ct, doc.id, "filename").decode()
        info = DocumentInfo(doc.id, doc.kind, doc.content_type, doc.size, doc.created_at, doc.source)
        return info, name, self._chunks(cipher, doc.id, doc.chunks), access

    async def _chunks(self, cipher: CitizenCipher, doc_id: str, count: int) -> AsyncIterator[bytes]:
        for start in range(0, count, CHUNKS_PER_TRANSACTION):
            async with self.reads() as session:
                rows = (
                    await session.execute(
                        select(DocumentChunk.idx, DocumentChunk.ciphertext)
                        .where(
                            DocumentChunk.document_id == doc_id,
                            DocumentChunk.idx >= start,
                            DocumentChunk.idx < start + CHUNKS_PER_TRANSACTION,
                        )
                        .order_by(DocumentChunk.idx)
                    )
                ).all()
            expected = list(range(start, min(count, start + CHUNKS_PER_TRANSACTION)))
            if [r.idx for r in rows] != expected:
                raise aead.InvalidCiphertext
            for row in rows:
                field = _chunk_field(row.idx, last=row.idx == count - 1)
                yield cipher.open(row.ciphertext, doc_id, field)


class _ChunkWriter:
    """Seals chunks in order and writes them ``CHUNKS_PER_TRANSACTION`` at a time."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cipher: CitizenCipher,
        doc_id: str,
    ) -> None:
        self.sessions, self.cipher = sessions, cipher
        self.citizen_id, self.doc_id = cipher.citizen_id, doc_id
        self.index = 0
        self.pending: list[DocumentChunk] = []

    async def add(self, piece: bytes, *, final: bool) -> None:
        sealed = self.cipher.seal_large(piece, self.doc_id, _chunk_field(self.index, last=final))
        self.pending.append(DocumentChunk(document_id=self.doc_id, idx=self.index, ciphertext=sealed))
        self.index += 1
        if final or len(self.pending) >= CHUNKS_PER_TRANSACTION:
            async with self.sessions.begin() as session:
                await CitizenVault.require_citizen(session, self.citizen_id, lock=True)
                session.add_all(self.pending)
            self.pending = []


async def _first_bytes(content: AsyncIterable[bytes], count: int) -> tuple[bytes, AsyncIterator[bytes]]:
    """The first ``count`` bytes of ``content`` (fewer if it is shorter), and all of ``content`` still to read."""
    stream = aiter(content)
    taken: list[bytes] = []
    while sum(map(len, taken)) < count:
        try:
            taken.append(await anext(stream))
        except StopAsyncIteration:
            break

    async def everything() -> AsyncIterator[bytes]:
        for part in taken:
            yield part
        async for part in stream:
            yield part

    return b"".join(taken)[:count], everything()


def _chunk_field(index: int, *, last: bool) -> str:
    return f"chunk:{index}:final" if last else f"chunk:{index}"
