"""How large a request body the vault reads: small for what it parses whole, document-sized for uploads.

Forms and JSON are parsed whole, so their size is what they cost: a 20 MiB urlencoded form (the
old app-wide limit) took 800 MiB and 20 s to parse (docs/security.md). The app's limit is
:data:`FORM_BODY_LIMIT`; only the document uploads, in their own controllers, get
``max_document_bytes`` plus room for the multipart framing (:func:`document_body_limit`), through
the router :mod:`vault.app` puts them and their sibling controllers on. Those siblings set the small
limit again on themselves.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from litestar.datastructures import UploadFile

    from vault.config import Settings

FORM_BODY_LIMIT = 64 * 1024
MULTIPART_OVERHEAD = 1024 * 1024


def document_body_limit(settings: Settings) -> int:
    """The body limit of a document upload."""
    return settings.max_document_bytes + MULTIPART_OVERHEAD


def upload_size(upload: UploadFile) -> int:
    """The size of an uploaded file, which Litestar has spooled whole before the handler runs.

    Given to :meth:`~vault.citizens.vault.CitizenVault.put_document`, so an upload that is too large
    is refused before anything is logged.
    """
    upload.file.seek(0, os.SEEK_END)
    size = upload.file.tell()
    upload.file.seek(0)
    return size
