"""Who is calling: a citizen (maybe acting for others) or a municipality's staff member."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from chalicelib.domain.identity import InvalidIdentity, validate_pid
from chalicelib.errors import Forbidden, InvalidInput

Role = Literal["citizen", "staff"]


@dataclass(frozen=True)
class Principal:
    """Who calls: a citizen (and whom they represent) or a staff member (and the HER-ids they administer)."""

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

    def require_acts_for(self, pid: str) -> None:
        """The who-is-it-for rule: a citizen books, holds and waits for themselves and for those
        they represent, nobody else (403 not_representative)."""
        if not self.may_act_for(pid):
            raise Forbidden("You may not act on behalf of this person.", code="not_representative")

    def name_of(self, pid: str) -> str:
        return self.name if pid == self.sub else self.represents.get(pid, "")

    def administers(self, her_id: str) -> bool:
        return self.is_staff and her_id in self.orgs


def valid_for_pid(for_pid: str) -> str:
    """A `for_pid` as sent, validated (400 naming the field `for_pid`)."""
    try:
        return validate_pid(for_pid)
    except InvalidIdentity as error:
        raise InvalidInput("Some fields are not valid.", fields=[("for_pid", str(error))]) from None


def whom_for(principal: Principal, for_pid: str | None) -> str:
    """Whom a hold, booking or waitlist entry is for: the caller, or someone they represent."""
    pid = valid_for_pid(for_pid) if for_pid else principal.sub
    principal.require_acts_for(pid)
    return pid
