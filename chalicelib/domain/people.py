"""Who is calling: a citizen (maybe acting for others) or a municipality's staff member."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["citizen", "staff"]


@dataclass(frozen=True)
class Principal:
    sub: str  # national identity number; never logged
    role: Role
    name: str
    orgs: tuple[str, ...] = ()  # HER-ids a staff member administers
    represents: dict[str, str] = field(default_factory=dict)  # pid -> name

    @property
    def is_citizen(self) -> bool:
        return self.role == "citizen"

    @property
    def is_staff(self) -> bool:
        return self.role == "staff"

    def may_act_for(self, pid: str) -> bool:
        return self.is_citizen and (pid == self.sub or pid in self.represents)

    def people(self) -> list[str]:
        """Whose appointments and inbox this citizen sees: their own and those they represent."""
        return [self.sub, *self.represents] if self.is_citizen else []

    def name_of(self, pid: str) -> str:
        return self.name if pid == self.sub else self.represents.get(pid, "")

    def administers(self, her_id: str) -> bool:
        return self.is_staff and her_id in self.orgs
