"""``Authorization: Bearer <key>``: the tenant of a request, from the key directory."""

from __future__ import annotations

from fastapi import Request

from producers.gateway.exceptions import UnauthorizedError
from schemas.tenants import TenantDirectory, TenantKey

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="diffstream"'}


def tenant_of(request: Request, directory: TenantDirectory) -> TenantKey:
    """The live key the request carries; ``UnauthorizedError`` when missing, unknown or revoked."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        error = UnauthorizedError(
            "Authorization: Bearer <API key> is missing: create a key with "
            "`diffstream keys create --tenant NAME`"
        )
        error.headers.update(_CHALLENGE)
        raise error
    found = directory.authenticate(key.strip())
    if found is None:
        error = UnauthorizedError("the API key is unknown or revoked: use a live key")
        error.headers.update(_CHALLENGE)
        raise error
    return found
