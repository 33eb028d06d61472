"""Who writes: users with their roles and groups, and where they may write.

A :class:`User` is a plain record. :func:`check_write` and :func:`check_delete` judge
one name by the namespace rules: everyone writes in their own user space and in the
spaces of their groups; the ``production`` role also writes the official spaces
(``/belle/Data``, ``/belle/MC``, ``/belle/collection``); ``admin`` writes anywhere.
Pure: no catalog, no disk (only :meth:`User.current` asks the OS who is running).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from dataclasses import dataclass

from b2grid.errors import BadArgument, BadLFN, PermissionDenied, did_you_mean
from b2grid.storage.lfn import validate_lfn, validate_part

#: the roles b2grid knows: ``user`` (everyone), ``production``, ``admin``
ROLES = ("user", "production", "admin")
#: top-level namespaces only the ``production`` role (or ``admin``) writes
OFFICIAL_NAMESPACES = ("Data", "MC", "collection")


@dataclass(frozen=True, slots=True)
class User:
    """A grid user: a name that is a valid LFN part, roles from :data:`ROLES`, groups.

    Roles and groups given as any iterable of names are stored as frozensets.

    Examples
    --------
    >>> alice = User("alice", groups=frozenset({"ewp"}))
    >>> alice.roles, sorted(alice.groups)
    (frozenset({'user'}), ['ewp'])
    >>> User("alice", roles=frozenset({"admn"}))
    Traceback (most recent call last):
    ...
    b2grid.errors.BadArgument: roles: unknown role 'admn' for user 'alice' (did ...
    """

    name: str
    #: what the user may do beyond their own spaces (see :func:`check_write`)
    roles: frozenset[str] = frozenset({"user"})
    #: groups whose ``/belle/group/<group>/`` space the user writes
    groups: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        validate_part(self.name, "user name")
        for attr in ("roles", "groups"):
            value = getattr(self, attr)
            if isinstance(value, str):
                raise BadArgument(
                    attr,
                    f"a set of names, not the string {value!r}; "
                    f"write {attr}=frozenset({{{value!r}}})",
                )
            object.__setattr__(self, attr, frozenset(value))
        for role in sorted(self.roles - set(ROLES)):
            raise BadArgument(
                "roles",
                f"unknown role {role!r} for user {self.name!r}"
                f"{did_you_mean(role, ROLES)}; known roles: {', '.join(ROLES)}",
            )
        for group in sorted(self.groups):
            validate_part(group, "group name")

    @classmethod
    def current(
        cls,
        roles: Iterable[str] = ("user",),
        groups: Iterable[str] = (),
        *,
        name: str | None = None,
    ) -> User:
        """The user running this process (``name`` overrides the OS user name).

        The name is :func:`getpass.getuser`, else ``$USER``, else ``"user"``. An OS
        name that is no valid LFN part raises :class:`BadLFN`; pass ``name=`` then.
        """
        if name is None:
            try:
                name = getpass.getuser()
            except (KeyError, OSError, ImportError):  # no passwd entry, no pwd module
                name = ""
            name = name or os.environ.get("USER") or "user"
            try:
                validate_part(name, "user name")
            except BadLFN as error:
                raise BadLFN(
                    name, f"{error.reason}; pass a valid name= to User.current()"
                ) from None
        return cls(name, frozenset(roles), frozenset(groups))

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_production(self) -> bool:
        return "production" in self.roles


def writable_prefixes(user: User) -> tuple[str, ...]:
    """The LPN prefixes ``user`` may write under (just ``/belle/`` for an admin).

    Examples
    --------
    >>> writable_prefixes(User("alice", groups=frozenset({"ewp"})))
    ('/belle/user/alice/', '/belle/group/ewp/')
    """
    if user.is_admin:
        return ("/belle/",)
    official = [f"/belle/{ns}/" for ns in OFFICIAL_NAMESPACES] * user.is_production
    own = [f"/belle/user/{user.name}/"]
    return (*official, *own, *(f"/belle/group/{g}/" for g in sorted(user.groups)))


def _refusal(user: User, lfn: str) -> str | None:
    """Why ``user`` may not write ``lfn`` (what they may write instead), or None."""
    parts = validate_lfn(lfn).split("/")  # ['', 'belle', namespace, owner, ...]
    if user.is_admin:
        return None
    top, owner = parts[2], (parts[3] if len(parts) > 3 else None)
    if top in OFFICIAL_NAMESPACES:
        if user.is_production:
            return None
        why = f"/belle/{top}/ is written by production (role 'production')"
    elif owner is None:
        why = f"/belle/{top} itself is kept by admins"
    elif top == "user":
        if owner == user.name:
            return None
        why = f"/belle/user/{owner}/ is the space of user {owner!r}"
    else:
        if owner in user.groups:
            return None
        why = f"you are not in group {owner!r}{did_you_mean(owner, user.groups)}"
    *others, last = writable_prefixes(user)
    listing = f"{', '.join(others)} and {last}" if others else last
    return f"{why}; you may write under {listing}"


def may_write(user: User, lfn: str) -> bool:
    """Whether ``user`` may write (or delete) the valid name ``lfn``."""
    return _refusal(user, lfn) is None


def check_write(user: User, lfn: str) -> None:
    """Return if ``user`` may write ``lfn``, else raise :class:`PermissionDenied`.

    A user writes under ``/belle/user/<name>/`` and ``/belle/group/<g>/`` for each of
    their groups; ``production`` also writes ``/belle/Data``, ``/belle/MC`` and
    ``/belle/collection``; ``admin`` writes anywhere. The reason says where the user
    may write instead. A malformed ``lfn`` raises :class:`BadLFN` first.

    Examples
    --------
    >>> alice = User("alice", groups=frozenset({"ewp"}))
    >>> check_write(alice, "/belle/group/ewp/skims/f.root")
    >>> check_write(alice, "/belle/MC/x")
    Traceback (most recent call last):
    ...
    b2grid.errors.PermissionDenied: user 'alice' may not write /belle/MC/x: /belle/MC/
    is written by production (role 'production'); you may write under
    /belle/user/alice/ and /belle/group/ewp/
    """
    reason = _refusal(user, lfn)
    if reason is not None:
        raise PermissionDenied(user.name, lfn, reason)


def check_delete(user: User, lfn: str) -> None:
    """Like :func:`check_write`: deleting needs the right to write the name."""
    reason = _refusal(user, lfn)
    if reason is not None:
        raise PermissionDenied(
            user.name, lfn, f"deleting needs the right to write it; {reason}"
        )


__all__ = [
    "ROLES",
    "OFFICIAL_NAMESPACES",
    "User",
    "check_delete",
    "check_write",
    "may_write",
    "writable_prefixes",
]
