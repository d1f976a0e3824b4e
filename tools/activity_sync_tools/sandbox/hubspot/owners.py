"""HubSpot owners. They come from the portal's users, so the API only reads them
(``GET /crm/v3/owners``); the sandbox creates them through ``POST /_sandbox/owners``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import validation_error
from .schema import ms_to_iso


@dataclass
class Owner:
    id: int
    user_id: int
    email: str
    first_name: str
    last_name: str
    created_at: int
    updated_at: int
    archived: bool = False
    teams: list[dict[str, Any]] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "email": self.email,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "userId": self.user_id,
            "userIdIncludingInactive": self.user_id,
            "type": "PERSON",
            "createdAt": ms_to_iso(self.created_at),
            "updatedAt": ms_to_iso(self.updated_at),
            "archived": self.archived,
            "teams": self.teams,
        }


class OwnerDirectory:
    """Owners by id, numbered from counters (callers hold the sandbox lock)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._owners: dict[int, Owner] = {}
        self._next_id = 5_000_001
        self._next_user_id = 9_000_001

    def add(self, body: dict[str, Any], now: int) -> Owner:
        email = str(body.get("email") or "").strip().lower()
        if "@" not in email:
            raise validation_error("An owner needs an email address")
        if any(o.email == email and not o.archived for o in self._owners.values()):
            raise validation_error(f"An active owner with email {email} already exists")
        user_id = int(body.get("userId") or self._next_user_id)
        self._next_user_id = max(self._next_user_id, user_id + 1)
        owner_id = int(body.get("id") or self._next_id)
        self._next_id = max(self._next_id, owner_id + 1)
        teams = [
            {"id": str(t.get("id")), "name": str(t.get("name")), "primary": bool(t.get("primary", False))}
            for t in body.get("teams") or []
        ]
        owner = Owner(
            id=owner_id,
            user_id=user_id,
            email=email,
            first_name=str(body.get("firstName") or ""),
            last_name=str(body.get("lastName") or ""),
            created_at=now,
            updated_at=now,
            archived=bool(body.get("archived", False)),
            teams=teams,
        )
        self._owners[owner.id] = owner
        return owner

    def get(self, owner_id: str | int) -> Owner | None:
        try:
            return self._owners.get(int(owner_id))
        except (TypeError, ValueError):
            return None

    def by_user_id(self, user_id: str | int) -> Owner | None:
        try:
            wanted = int(user_id)
        except (TypeError, ValueError):
            return None
        return next((o for o in self._owners.values() if o.user_id == wanted), None)

    def is_active(self, owner_id: str) -> bool:
        owner = self.get(owner_id)
        return owner is not None and not owner.archived

    def listing(self, *, archived: bool, email: str | None) -> list[Owner]:
        owners = sorted(self._owners.values(), key=lambda o: o.id)
        return [
            o
            for o in owners
            if o.archived == archived and (email is None or o.email == email.strip().lower())
        ]

    def all(self) -> list[Owner]:
        return sorted(self._owners.values(), key=lambda o: o.id)
