"""The auditors' pages: ``/audit`` and below (docs/audit.md).

Only accounts that ``vault auditor add`` created (and that are not disabled) get past
:func:`auditor_session`; a citizen gets 403, nobody signed in is sent to ``/login``. Everything
shown is pseudonymous (see :mod:`vault.audit.queries`); the pages only read the log. Each page an
auditor opens is recorded (:mod:`vault.audit.activity`) and shown to the other auditors on
``/audit/activity``. The log's actor ``citizen`` is named "citizen" here, not "you" as on the citizen's own history.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide

from vault.api.account_pages import ACTOR_LABELS, HISTORY_LABELS
from vault.api.audit_chart import series, stacked_bars
from vault.api.render import N_, page_session, render
from vault.api.services import (
    Injected,
    services_of,
)
from vault.audit.activity import PAGE_SIZE as ACTIVITY_PAGE
from vault.audit.auditors import Auditors  # noqa: TC001  Litestar reads the annotations
from vault.audit.queries import (
    COUNT_CAP,
    MAX_EXPORT,
    PAGE_SIZE,
    RATE_WINDOW_DAYS,
    AuditEntry,
    AuditQueries,
    EntryFilter,
)
from vault.citizens.sessions import SignedIn

AUDIT, ENTRIES, REFUSALS, CHECKPOINTS, ANOMALIES, ACTIVITY = (
    N_("Audit"),
    N_("Log entries"),
    N_("Refused and denied"),
    N_("Checkpoints"),
    N_("Anomalies"),
    N_("Auditors' activity"),
)
#: The log's actors as an auditor reads them: the citizen is "citizen", not "you".
AUDIT_LABELS: dict[str, Any] = {**HISTORY_LABELS, "actors": {**ACTOR_LABELS, "citizen": N_("Citizen")}}
FILTER_NAMES = ("agency", "service", "action", "legal_basis", "pseudonym")
CSV_COLUMNS = (
    "id", "leaf_index", "time", "pseudonym", "actor", "agency_name", "action", "service", "fields", "purpose",
    "legal_basis", "grant_id", "commitment", "salt",
)  # fmt: skip
REFUSAL_REASONS = {
    "grant_not_active": N_("grant revoked, used up or expired"),
    "document_not_granted": N_("document not covered by the grant"),
    "invalid_token": N_("token revoked, expired or unknown"),
    "invalid_dpop_proof": N_("invalid or replayed DPoP proof"),
}


class BadFilter(ValueError):
    """A filter value the pages cannot use (e.g. a malformed date): 400."""


class NotAnAuditor(Exception):
    """A signed-in account without audit access asked for an audit page: 403."""


Auditor = NamedDependency[SignedIn]


async def auditor_session(request: Request[Any, Any, Any]) -> SignedIn:
    """Dependency: a signed-in auditor, whose visit is recorded for the other auditors; a citizen gets 403."""
    session = await page_session(request)
    auditors = services_of(request).auditors
    if not await auditors.is_auditor(session.citizen_id):
        raise NotAnAuditor
    await auditors.activity.record(session.citizen_id, request.url.path, _query(request).items())
    return session


def not_an_auditor(request: Request[Any, Any, Any], _exc: Exception) -> Response[str]:
    """Exception handler: 403 with a page that says the audit pages are for auditors."""
    return render(request, "message.html", N_("For auditors only"), 403, error=N_(
        "These pages are for the auditors the operator has registered. Your account is not one of them."
    ), back="/")  # fmt: skip


def _day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadFilter(f"{name}: expected a date YYYY-MM-DD") from None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parse_filter(params: dict[str, str]) -> EntryFilter:
    """The entry filter from query parameters; ``until`` is an inclusive day."""
    values = {name: (params.get(name) or "").strip() or None for name in FILTER_NAMES}
    if any(v is not None and len(v) > 500 for v in values.values()):
        raise BadFilter("a filter value has at most 500 characters")
    since, until = _day(params.get("since", ""), "since"), _day(params.get("until", ""), "until")
    if since and until and until < since:
        raise BadFilter("until: the end lies before the start")
    return EntryFilter(
        **values,
        since=_midnight(since) if since else None,
        until=_midnight(until) + timedelta(days=1) if until else None,
    )


def _query(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The query parameters, the first value of a repeated one (as ``query_params.get``).

    So what is recorded (:func:`vault.audit.activity.what`) is exactly what the pages apply.
    """
    first: dict[str, str] = {}
    for name, value in request.query_params.items():
        if isinstance(value, str):
            first.setdefault(name, value)
    return first


def _spreadsheet_safe(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: texts that start like a formula get a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def entries_csv(entries: list[AuditEntry], names: dict[str, str]) -> str:
    """The entries as CSV (RFC 4180), one row per record, cells safe to open in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        row = (
            e.id, e.leaf_index, e.time.isoformat(), e.pseudonym, e.actor, names.get(e.actor, ""), e.action,
            e.service, " ".join(e.fields), e.purpose, e.legal_basis, e.grant_id, e.commitment, e.salt,
        )  # fmt: skip
        writer.writerow([_spreadsheet_safe(v) for v in row])
    return out.getvalue()


def _before(request: Request[Any, Any, Any]) -> int | None:
    text = request.query_params.get("before", "")
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 and int(text) > 0 else None


class AuditPages(Controller):
    """Auditor pages and exports."""

    path = "/audit"
    include_in_schema = False
    dependencies = {"auditor": Provide(auditor_session)}  # noqa: RUF012

    def _page(self, request: Request[Any, Any, Any], auditor: SignedIn, template: str, title: str,
              status: int = 200, **context: Any) -> Response[str]:  # fmt: skip
        response = render(
            request, template, title, status, me=auditor, auditor=True, csrf_token=auditor.csrf_token,
            **AUDIT_LABELS, **context,
        )  # fmt: skip
        response.headers["Cache-Control"] = "no-store"
        return response

    @get("/")
    async def overview(
        self, request: Request[Any, Any, Any], auditor: Auditor, audit: Injected[AuditQueries]
    ) -> Response[str]:
        """Reads per day and agency over the last weeks (chart and table), and what needs a look."""
        now = datetime.now(UTC)
        last = now.date()
        first = last - timedelta(days=RATE_WINDOW_DAYS - 1)
        counts = await audit.reads_per_day(_midnight(first), now + timedelta(seconds=1))
        names = await audit.agency_names()
        chart_series = series(((c.day, c.agency, c.reads) for c in counts), names)
        per_service: dict[tuple[str, str | None], int] = {}
        for c in counts:
            per_service[(c.agency, c.service)] = per_service.get((c.agency, c.service), 0) + c.reads
        anomalies = await audit.anomalies(now=now)
        checkpoints = await audit.checkpoints(limit=1)
        return self._page(
            request, auditor, "audit/overview.html", AUDIT,
            chart=stacked_bars(chart_series, first, last, "chart-title", "chart-desc"),
            series=chart_series, first=first, last=last, per_service=sorted(per_service.items()),
            agencies=names, anomalies=anomalies, latest=checkpoints[0] if checkpoints else None,
        )  # fmt: skip

    @get("/entries")
    async def entries(
        self, request: Request[Any, Any, Any], auditor: Auditor, audit: Injected[AuditQueries]
    ) -> Response[str]:
        """Log entries with filters (agency, service, action, legal basis, pseudonym, time), newest first."""
        params = _query(request)
        try:
            where = parse_filter(params)
        except BadFilter as exc:
            return self._page(
                request, auditor, "audit/entries.html", ENTRIES, 400,
                error=(N_("The filter is not valid: %(reason)s"), {"reason": str(exc)}), entries=[], params=params,
                choices=await audit.choices(), agencies=await audit.agency_names(), total=0, next_before=None,
                export_query="", cap=COUNT_CAP,
            )  # fmt: skip
        rows = await audit.entries(where, before_id=_before(request))
        export_query = urlencode({k: params[k] for k in (*FILTER_NAMES, "since", "until") if params.get(k)})
        return self._page(
            request, auditor, "audit/entries.html", ENTRIES, entries=rows, params=params,
            choices=await audit.choices(), agencies=await audit.agency_names(),
            total=await audit.count(where, cap=COUNT_CAP), cap=COUNT_CAP,
            next_before=rows[-1].id if len(rows) == PAGE_SIZE else None, export_query=export_query,
        )  # fmt: skip

    @get("/entries.csv")
    async def entries_csv(
        self, request: Request[Any, Any, Any], auditor: Auditor, audit: Injected[AuditQueries]
    ) -> Response[str]:
        """The filtered entries as CSV (oldest first, at most ``MAX_EXPORT``)."""
        where = parse_filter(_query(request))
        body = entries_csv(await audit.export(where), await audit.agency_names())
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="audit-entries.csv"', "Cache-Control": "no-store"},
        )

    @get("/entries.json")
    async def entries_json(
        self, request: Request[Any, Any, Any], auditor: Auditor, audit: Injected[AuditQueries]
    ) -> Response[bytes]:
        """The filtered entries as JSON (oldest first, at most ``MAX_EXPORT``; ``truncated`` says if more matched)."""
        where = parse_filter(_query(request))
        rows = await audit.export(where)
        body = {
            "filter": where,
            "count": len(rows),
            "truncated": len(rows) == MAX_EXPORT and await audit.count(where, cap=MAX_EXPORT) > MAX_EXPORT,
            "agencies": await audit.agency_names(),
            "entries": rows,
        }
        return Response(
            msgspec.json.encode(body),
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="audit-entries.json"', "Cache-Control": "no-store"},
        )

    @get("/refusals")
    async def refusals(
        self, request: Request[Any, Any, Any], auditor: Auditor, audit: Injected[AuditQueries]
    ) -> Response[str]:
        """Agency requests the vault refused, and consents the citizens denied."""
        agency = request.query_params.get("agency") or None
        rows = await audit.refusals(agency=agency, before_id=_before(request))
        denied = await audit.count(EntryFilter(action="denied"), cap=COUNT_CAP)
        return self._page(
            request, auditor, "audit/refusals.html", REFUSALS, refusals=rows, denied=denied,
            agencies=await audit.agency_names(), reasons=REFUSAL_REASONS,
            next_before=rows[-1].id if len(rows) == PAGE_SIZE else None, agency=agency,
        )  # fmt: skip

    @get("/checkpoints")
    async def checkpoints(
        self, request: Request[Any, Any, Any], auditor: Auditor, audit: Injected[AuditQueries]
    ) -> Response[str]:
        """Signed checkpoints, newest first, each checked against the log key and the newest tree."""
        below = _before(request)
        rows = await audit.checkpoints(below_size=below)
        return self._page(
            request, auditor, "audit/checkpoints.html", CHECKPOINTS, checkpoints=rows,
            next_before=rows[-1].size if len(rows) == PAGE_SIZE else None,
        )  # fmt: skip

    @get("/anomalies")
    async def anomalies(
        self, request: Request[Any, Any, Any], auditor: Auditor, audit: Injected[AuditQueries]
    ) -> Response[str]:
        """Reads outside their grant's window, unusual read rates, services never used."""
        return self._page(
            request, auditor, "audit/anomalies.html", ANOMALIES, anomalies=await audit.anomalies(),
            agencies=await audit.agency_names(), window_days=RATE_WINDOW_DAYS,
        )  # fmt: skip

    @get("/activity")
    async def activity(
        self, request: Request[Any, Any, Any], auditor: Auditor, auditors: Injected[Auditors]
    ) -> Response[str]:
        """Which auditor opened which audit page or export, with its filters, newest first (this page too)."""
        rows = await auditors.activity.recent(before_id=_before(request))
        return self._page(
            request, auditor, "audit/activity.html", ACTIVITY, activity=rows,
            next_before=rows[-1].id if len(rows) == ACTIVITY_PAGE else None,
        )  # fmt: skip
