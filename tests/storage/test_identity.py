"""Users, roles, groups, and who may write (or delete) which names."""

from __future__ import annotations

import dataclasses
import getpass
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2grid.errors import BadArgument, BadLFN, PermissionDenied
from b2grid.storage.identity import (
    ROLES,
    User,
    check_delete,
    check_write,
    may_write,
    writable_prefixes,
)
from b2grid.storage.lfn import ALLOWED_CHARS, NAMESPACES, join

ALICE = User("alice", groups=frozenset({"ewp"}))
BOB = User("bob")
PROD = User("prod", roles=frozenset({"user", "production"}))
ADMIN = User("root", roles=frozenset({"admin"}))

names = st.text(string.ascii_lowercase + string.digits + "._-", min_size=1, max_size=12)
names = names.filter(lambda n: n not in {".", ".."})
parts = st.text("".join(sorted(ALLOWED_CHARS)), min_size=1, max_size=12).filter(
    lambda p: p not in {".", ".."}
)
tails = st.lists(parts, max_size=4)


def refusal(check: object, user: User, lfn: str) -> str:
    with pytest.raises(PermissionDenied) as info:
        check(user, lfn)  # type: ignore[operator]
    error = info.value
    assert (error.user, error.lfn) == (user.name, lfn)
    assert str(error).startswith(f"user {user.name!r} may not write {lfn}: ")
    return str(error)


# --- User ----------------------------------------------------------------------------


def test_defaults_and_coercion() -> None:
    user = User("alice")
    assert user.roles == frozenset({"user"})
    assert user.groups == frozenset()
    mixed = User("alice", roles={"user", "admin"}, groups=["ewp", "tau"])  # type: ignore[arg-type]
    assert mixed.roles == frozenset({"user", "admin"})
    assert mixed.groups == frozenset({"ewp", "tau"})
    assert isinstance(mixed.roles, frozenset)
    assert mixed.is_admin
    assert not mixed.is_production
    assert PROD.is_production


def test_user_is_frozen_and_hashable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ALICE.name = "bob"  # type: ignore[misc]
    assert {ALICE, User("alice", groups=frozenset({"ewp"}))} == {ALICE}


@pytest.mark.parametrize(
    ("name", "culprit"),
    [
        ("", "user name: it is empty"),
        ("a/b", "user name: character '/' at index 1"),
        ("al ice", "user name: character ' ' at index 2"),
        ("..", "user name: part '..' is a relative reference"),
        ("x" * 129, "over MAX_PART=128"),
    ],
)
def test_user_name_is_a_valid_lfn_part(name: str, culprit: str) -> None:
    with pytest.raises(BadLFN) as info:
        User(name)
    assert culprit in info.value.reason
    assert info.value.lfn == name


def test_unknown_role_is_named_with_a_suggestion() -> None:
    with pytest.raises(
        BadArgument, match=r"^roles: unknown role 'producton' for user 'bob'"
    ) as info:
        User("bob", roles=frozenset({"user", "producton"}))
    assert "(did you mean 'production'?)" in str(info.value)
    assert "known roles: user, production, admin" in str(info.value)


def test_roles_or_groups_given_as_a_string() -> None:
    with pytest.raises(BadArgument, match="roles: a set of names, not the string 'adm"):
        User("bob", roles="admin")  # type: ignore[arg-type]
    with pytest.raises(BadArgument, match=r"write groups=frozenset\(\{'ewp'\}\)"):
        User("bob", groups="ewp")  # type: ignore[arg-type]


def test_group_names_are_valid_lfn_parts() -> None:
    with pytest.raises(BadLFN, match="group name: character ' ' at index 1"):
        User("bob", groups=frozenset({"e p"}))


def test_current_user_from_the_os(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "carol")
    user = User.current(roles=["production"], groups=("ewp",))
    assert user == User("carol", frozenset({"production"}), frozenset({"ewp"}))
    assert User.current().roles == frozenset({"user"})
    assert User.current(name="dave").name == "dave"


@pytest.mark.parametrize("error", [KeyError("uid 1000"), OSError("no user")])
def test_current_user_falls_back_to_user_then_a_default(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def no_user() -> str:
        raise error

    monkeypatch.setattr(getpass, "getuser", no_user)
    monkeypatch.setenv("USER", "erin")
    assert User.current().name == "erin"
    monkeypatch.delenv("USER")
    assert User.current().name == "user"


def test_current_user_with_an_unusable_os_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "CORP\\frank")
    with pytest.raises(BadLFN) as info:
        User.current()
    assert "character '\\\\' at index 4" in info.value.reason
    assert "pass a valid name= to User.current()" in info.value.reason
    assert User.current(name="frank").name == "frank"


# --- the permission matrix -----------------------------------------------------------

OWN, OTHER = "/belle/user/alice/ana/f.root", "/belle/user/bob/ana/f.root"
GROUP, OTHER_GROUP = "/belle/group/ewp/skim/f.root", "/belle/group/tau/skim/f.root"
DATA, MC = "/belle/Data/release-06-00-08/x", "/belle/MC/release-06-00-08/x"
COLLECTION = "/belle/collection/B2D"
USER_ROOT, OWN_ROOT = "/belle/user", "/belle/user/alice"

MATRIX = {
    #            ALICE  BOB    PROD   ADMIN
    OWN: (True, False, False, True),
    OTHER: (False, True, False, True),
    GROUP: (True, False, False, True),
    OTHER_GROUP: (False, False, False, True),
    DATA: (False, False, True, True),
    MC: (False, False, True, True),
    COLLECTION: (False, False, True, True),
    USER_ROOT: (False, False, False, True),
    OWN_ROOT: (True, False, False, True),
    "/belle/user/prod/x": (False, False, True, True),
    "/belle/group": (False, False, False, True),
}
USERS = (ALICE, BOB, PROD, ADMIN)
CASES = [
    (user, lfn, allowed[i])
    for lfn, allowed in MATRIX.items()
    for i, user in enumerate(USERS)
]


@pytest.mark.parametrize("check", [check_write, check_delete])
@pytest.mark.parametrize(("user", "lfn", "allowed"), CASES)
def test_permission_matrix(user: User, lfn: str, allowed: bool, check: object) -> None:
    assert may_write(user, lfn) is allowed
    if allowed:
        check(user, lfn)  # type: ignore[operator]
    else:
        message = refusal(check, user, lfn)
        assert "you may write under " in message


def test_refusals_say_why_and_where_to_write_instead() -> None:
    message = refusal(check_write, ALICE, OTHER)
    assert "/belle/user/bob/ is the space of user 'bob'" in message
    assert message.endswith(
        "you may write under /belle/user/alice/ and /belle/group/ewp/"
    )

    message = refusal(check_write, ALICE, OTHER_GROUP)
    assert "you are not in group 'tau'; " in message

    message = refusal(check_write, ALICE, "/belle/group/EWP/x")
    assert "you are not in group 'EWP' (did you mean 'ewp'?)" in message

    message = refusal(check_write, BOB, DATA)
    assert "/belle/Data/ is written by production (role 'production')" in message
    assert message.endswith("you may write under /belle/user/bob/")

    message = refusal(check_write, BOB, COLLECTION)
    assert "/belle/collection/ is written by production" in message

    message = refusal(check_write, PROD, OTHER)
    assert message.endswith(
        "you may write under /belle/Data/, /belle/MC/, /belle/collection/ and "
        "/belle/user/prod/"
    )

    message = refusal(check_write, ALICE, USER_ROOT)
    assert "/belle/user itself is kept by admins" in message


def test_delete_refusals_say_they_are_about_deleting() -> None:
    message = refusal(check_delete, ALICE, MC)
    assert "deleting needs the right to write it; /belle/MC/ is written" in message


@pytest.mark.parametrize("check", [check_write, check_delete, may_write])
def test_malformed_names_are_bad_lfns_not_permission_errors(check: object) -> None:
    with pytest.raises(BadLFN, match=r"'\.\.' is a relative reference"):
        check(ALICE, "/belle/user/alice/../bob/x")  # type: ignore[operator]
    with pytest.raises(BadLFN, match="did you mean 'Data'"):
        check(ADMIN, "/belle/data/x")  # type: ignore[operator]


def test_writable_prefixes() -> None:
    assert writable_prefixes(BOB) == ("/belle/user/bob/",)
    assert writable_prefixes(User("g", groups=frozenset({"tau", "ewp"}))) == (
        "/belle/user/g/",
        "/belle/group/ewp/",
        "/belle/group/tau/",
    )
    assert writable_prefixes(PROD)[:3] == (
        "/belle/Data/",
        "/belle/MC/",
        "/belle/collection/",
    )
    assert writable_prefixes(ADMIN) == ("/belle/",)


# --- properties ----------------------------------------------------------------------


@given(names, tails)
def test_everyone_writes_their_own_space(name: str, tail: list[str]) -> None:
    lfn = join(f"/belle/user/{name}", *tail)
    check_write(User(name), lfn)
    check_delete(User(name), lfn)


@given(names, names, tails, st.sampled_from(["user", "production"]))
def test_nobody_but_admin_writes_another_users_space(
    me: str, other: str, tail: list[str], role: str
) -> None:
    if me == other:
        return
    lfn = join(f"/belle/user/{other}", *tail)
    user = User(me, roles=frozenset({role}))
    message = refusal(check_write, user, lfn)
    assert f"/belle/user/{other}/ is the space of user {other!r}" in message
    assert message.endswith(f" /belle/user/{me}/")  # where to write instead
    check_write(User(me, roles=frozenset({"admin"})), lfn)


@given(names, st.frozensets(names, max_size=3), names, tails)
def test_group_spaces_are_for_members(
    me: str, groups: frozenset[str], group: str, tail: list[str]
) -> None:
    lfn = join(f"/belle/group/{group}", *tail)
    user = User(me, groups=groups)
    if group in groups:
        check_write(user, lfn)
    else:
        assert f"you are not in group {group!r}" in refusal(check_write, user, lfn)
    check_write(User(me, groups=groups | {group}), lfn)


@given(
    names,
    st.sampled_from(["Data", "MC", "collection"]),
    tails,
    st.frozensets(st.sampled_from(ROLES)),
)
def test_official_spaces_need_production_or_admin(
    me: str, namespace: str, tail: list[str], roles: frozenset[str]
) -> None:
    lfn = join(f"/belle/{namespace}", *tail)
    user = User(me, roles=roles)
    assert may_write(user, lfn) is bool(roles & {"production", "admin"})


@given(names, st.sampled_from(NAMESPACES), tails)
def test_admin_writes_every_valid_name(
    me: str, namespace: str, tail: list[str]
) -> None:
    lfn = join(f"/belle/{namespace}", *tail)
    check_write(User(me, roles=frozenset({"admin"})), lfn)
    check_delete(User(me, roles=frozenset({"admin"})), lfn)
