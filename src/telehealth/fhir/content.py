"""Versions of resources built from records that keep no version column (clinicians, their
organization, consents): ``meta.versionId`` is a digest of the resource's content, so it
changes whenever what a reader sees changes (a license added, a consent lapsing with time)
and a client's ``If-None-Match`` never keeps a stale copy. Such versions are not ordered and
no history is kept (the CapabilityStatement says ``readHistory: false``)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

import orjson

from telehealth.fhir.model import Resource, meta


def with_content_meta(
    resource: Resource, last_updated: datetime, profiles: Sequence[str] = ()
) -> Resource:
    """The resource with ``meta`` after its type and id, its version the content's digest."""
    body = orjson.dumps(
        {k: v for k, v in resource.items() if k != "meta"}, option=orjson.OPT_SORT_KEYS
    )
    version = int(hashlib.sha256(body).hexdigest()[:12], 16)
    head = {"resourceType": resource["resourceType"], "id": resource["id"]}
    rest = {k: v for k, v in resource.items() if k not in head and k != "meta"}
    return {**head, "meta": meta(version, last_updated, profiles), **rest}
