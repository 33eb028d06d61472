"""The Belle II namespace: LFN rules, helpers, datablocks, the official layout."""

from __future__ import annotations

import dataclasses
import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2grid.errors import BadLFN
from b2grid.storage.lfn import (
    ALLOWED_CHARS,
    DATA_LEVELS,
    MAX_LFN,
    MAX_PART,
    NAMESPACES,
    DatasetPath,
    NamespaceInfo,
    basename,
    datablock_index,
    datablock_lpn,
    datablock_name,
    dirname,
    join,
    namespace_of,
    split_datablock,
    user_lpn,
    validate_lfn,
    validate_part,
)

ALPHABET = "".join(sorted(ALLOWED_CHARS))
parts = st.text(ALPHABET, min_size=1, max_size=20).filter(
    lambda p: p not in {".", ".."}
)
valid_names = st.builds(
    lambda ns, rest: "/".join(["", "belle", ns, *rest]),
    st.sampled_from(NAMESPACES),
    st.lists(parts, max_size=8),
)
bad_chars = st.characters().filter(lambda c: c not in ALLOWED_CHARS and c != "/")


def reason_of(name: str) -> str:
    with pytest.raises(BadLFN) as info:
        validate_lfn(name)
    assert info.value.lfn == name
    assert str(info.value) == f"bad LFN {name!r}: {info.value.reason}"
    return info.value.reason


# --- validate_lfn ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "/belle/Data",
        "/belle/MC/release-06-00-08/DB00002288/MC15ri_b/prod00024816/s00/e1003/4S",
        "/belle/user/alice/ana-2024/ntuple_v1.2+fix.root",
        "/belle/group/ewp/skims/sub00/f.root",
        "/belle/collection/B2D_v3",
        "/belle/user",
        "/belle/MC/...",  # only '.' and '..' are relative references
    ],
)
def test_valid_names_come_back_unchanged(name: str) -> None:
    assert validate_lfn(name) == name


@pytest.mark.parametrize(
    ("name", "culprit"),
    [
        ("", "not absolute; an LFN starts with /belle/"),
        ("belle/MC/x", "not absolute"),
        ("/Belle/MC/x", "part 0 'Belle' should be 'belle'"),
        ("/atlas/MC/x", "part 0 'atlas' should be 'belle'"),
        ("/belle", "no namespace; use /belle/<one of Data, MC, user"),
        ("/belle/", "ends with '/'; drop the trailing slash"),
        ("/belle/MC/a/", "ends with '/'"),
        ("/belle/MC//a", "empty part ('//') at index 9; use one '/'"),
        ("//belle/MC", "part 0 '' should be 'belle'"),
        ("/belle/MC/./a", "part '.' is a relative reference"),
        ("/belle/MC/a/../b", "part '..' is a relative reference"),
        ("/belle/MC/a b", "character ' ' at index 11 (in 'a b') is not allowed"),
        ("/belle/MC/x/caf\u00e9", "character '\u00e9' at index 15 (in 'caf\u00e9')"),
        ("/belle/MC/a\\b", "character '\\\\' at index 11"),
        ("/belle/MC/a*", "character '*' at index 11"),
        ("/belle/MC/a\tb", "character '\\t' at index 11"),
        ("/belle/data/x", "namespace 'data' is not one of Data, MC, user, group, co"),
        ("/belle/data/x", "(did you mean 'Data'?)"),
        ("/belle/mc", "(did you mean 'MC'?)"),
        ("/belle/users/alice", "'users' is not one of"),
        ("/belle/users/alice", "(did you mean 'user'?)"),
        ("/belle/Raw/x", "namespace 'Raw' is not one of"),
    ],
)
def test_bad_names_name_the_culprit(name: str, culprit: str) -> None:
    assert culprit in reason_of(name)


def test_the_first_problem_from_the_left_is_reported() -> None:
    assert "'data'" in reason_of("/belle/data/a b")
    assert "' '" in reason_of("/belle/MC/a b/../c")


def test_length_limits() -> None:
    longest_part = "/belle/MC/" + "p" * MAX_PART
    assert validate_lfn(longest_part) == longest_part
    reason = reason_of(longest_part + "p")
    assert f"{MAX_PART + 1} characters, over MAX_PART=128" in reason
    assert "'pppppppppppppppp'..." in reason

    longest = "/belle/MC/" + "/".join(["x" * 99] * 5)
    longest += "/" + "y" * (MAX_LFN - len(longest) - 1)
    assert len(longest) == MAX_LFN
    assert validate_lfn(longest) == longest
    assert f"{MAX_LFN + 1} characters, over MAX_LFN=512" in reason_of(longest + "y")


def test_bad_lfn_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bad LFN"):
        validate_lfn("/belle/MC/a b")


@given(valid_names)
def test_every_generated_valid_name_is_accepted(name: str) -> None:
    assert validate_lfn(name) == name


@given(valid_names, st.sampled_from(["", ".", ".."]), st.integers(min_value=0))
def test_empty_and_relative_parts_are_never_accepted(
    name: str, bad: str, where: int
) -> None:
    pieces = name.split("/")
    at = 3 + where % (len(pieces) - 2)  # after /belle/<namespace>
    bad_name = "/".join([*pieces[:at], bad, *pieces[at:]])
    reason = reason_of(bad_name)
    if bad:
        assert f"part {bad!r} is a relative reference" in reason
    else:
        assert "ends with '/'" in reason or "empty part ('//')" in reason


@given(valid_names, bad_chars, st.integers(min_value=0))
def test_bad_characters_are_never_accepted_and_pointed_at(
    name: str, char: str, where: int
) -> None:
    at = len("/belle/") + where % (len(name) - len("/belle/") + 1)
    bad_name = name[:at] + char + name[at:]
    reason = reason_of(bad_name)
    assert f"character {char!r} at index {at} " in reason
    assert bad_name[at] == char


@given(st.text(ALPHABET + "/ \u00e9", max_size=30).map(lambda s: "/belle/" + s))
def test_anything_accepted_obeys_the_rules(name: str) -> None:
    try:
        validate_lfn(name)
    except BadLFN:
        return
    pieces = name.split("/")
    assert pieces[:2] == ["", "belle"]
    assert pieces[2] in NAMESPACES
    assert all(p and p not in {".", ".."} for p in pieces[1:])
    assert set(name) <= ALLOWED_CHARS | {"/"}


def test_validate_part() -> None:
    assert validate_part("alice") == "alice"
    with pytest.raises(BadLFN, match=r"user name: it is empty"):
        validate_part("", "user name")
    with pytest.raises(BadLFN, match=r"project: character '/' at index 1"):
        validate_part("a/b", "project")
    with pytest.raises(BadLFN, match=r"part: part '\.\.' is a relative reference"):
        validate_part("..")


# --- namespaces and helpers --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "info"),
    [
        ("/belle/Data/release-06-00-08/x", NamespaceInfo("data")),
        ("/belle/MC", NamespaceInfo("mc")),
        ("/belle/collection/c1", NamespaceInfo("collection")),
        ("/belle/user/alice", NamespaceInfo("user", "alice")),
        ("/belle/user/alice/ana/f.root", NamespaceInfo("user", "alice")),
        ("/belle/group/ewp/skim", NamespaceInfo("group", "ewp")),
    ],
)
def test_namespace_of(name: str, info: NamespaceInfo) -> None:
    assert namespace_of(name) == info


@pytest.mark.parametrize("kind", ["user", "group"])
def test_user_and_group_names_need_their_owner(kind: str) -> None:
    with pytest.raises(BadLFN, match=f"start /belle/{kind}/<{kind}>/"):
        namespace_of(f"/belle/{kind}")


def test_namespace_of_validates() -> None:
    with pytest.raises(BadLFN, match="did you mean 'MC'"):
        namespace_of("/belle/mc/x")


def test_basename_dirname_join() -> None:
    name = "/belle/user/alice/ana/f.root"
    assert basename(name) == "f.root"
    assert dirname(name) == "/belle/user/alice/ana"
    assert join(dirname(name), basename(name)) == name
    assert join("/belle/user/alice", "ana/f.root") == name
    assert join("/belle/MC") == "/belle/MC"
    assert basename("/belle/MC") == "MC"
    assert dirname("/belle/MC/x") == "/belle/MC"


def test_helpers_refuse_bad_names() -> None:
    with pytest.raises(BadLFN, match="a top-level namespace has no parent LPN"):
        dirname("/belle/MC")
    with pytest.raises(BadLFN, match=r"'\.\.' is a relative reference"):
        join("/belle/user/alice", "..", "bob")
    with pytest.raises(BadLFN, match=r"empty part \('//'\)"):
        join("/belle/user/alice", "", "x")
    with pytest.raises(BadLFN, match="ends with '/'"):
        join("/belle/user/alice/", "x")  # the base is checked on its own
    with pytest.raises(BadLFN, match="character ' '"):
        basename("/belle/MC/a b")


@given(valid_names, parts)
def test_join_then_split_round_trips(lpn: str, part: str) -> None:
    name = join(lpn, part)
    assert (dirname(name), basename(name)) == (lpn, part)


def test_user_lpn() -> None:
    assert user_lpn("alice", "ana") == "/belle/user/alice/ana"
    assert user_lpn("alice", "ana", "v1", "f.root") == "/belle/user/alice/ana/v1/f.root"
    with pytest.raises(BadLFN, match="user name: character '/' at index 1"):
        user_lpn("a/b", "ana")
    with pytest.raises(BadLFN, match="project: it is empty"):
        user_lpn("alice", "")
    with pytest.raises(BadLFN, match="character ' ' at index 23"):
        user_lpn("alice", "ana", "a b")


# --- datablocks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "name"),
    [(0, "sub00"), (7, "sub07"), (10, "sub10"), (99, "sub99"), (100, "sub100")],
)
def test_datablock_names(index: int, name: str) -> None:
    assert datablock_name(index) == name
    assert datablock_index(name) == index


@given(st.integers(min_value=0, max_value=10**6))
def test_datablock_index_inverts_datablock_name(index: int) -> None:
    assert datablock_index(datablock_name(index)) == index


@pytest.mark.parametrize(
    "part", ["sub5", "sub007", "sub", "subx1", "Sub01", "sub01a", "sub\u0663\u0663"]
)
def test_only_canonical_names_are_datablocks(part: str) -> None:
    assert datablock_index(part) is None


def test_negative_datablock_index() -> None:
    with pytest.raises(BadLFN, match="datablock indices start at 0, not -1"):
        datablock_name(-1)


def test_datablock_lpn_and_split() -> None:
    lpn = "/belle/user/alice/ana"
    assert datablock_lpn(lpn, 0) == "/belle/user/alice/ana/sub00"
    assert datablock_lpn(lpn, 123) == "/belle/user/alice/ana/sub123"
    assert split_datablock(f"{lpn}/sub03/f.root") == (lpn, "sub03")
    assert split_datablock(f"{lpn}/f.root") is None
    assert split_datablock(f"{lpn}/sub03") is None  # the block itself is no file in it
    assert split_datablock(f"{lpn}/sub3/f.root") is None
    assert split_datablock("/belle/MC") is None
    with pytest.raises(BadLFN, match="is a datablock already; give its dataset"):
        datablock_lpn(f"{lpn}/sub00", 1)
    with pytest.raises(BadLFN, match=r"'\.\.'"):
        split_datablock(f"{lpn}/../f.root")


@given(valid_names, st.integers(min_value=0, max_value=1000), parts)
def test_datablock_round_trip(lpn: str, index: int, file: str) -> None:
    if datablock_index(basename(lpn)) is not None:
        return
    name = join(datablock_lpn(lpn, index), file)
    assert split_datablock(name) == (lpn, datablock_name(index))


# --- the official dataset layout ---------------------------------------------------

MC_LPN = (
    "/belle/MC/release-06-00-08/DB00002288/MC15ri_b/prod00024816/s00/e1003/4S/"
    "r00000/mixed/mdst"
)
UDST_LPN = (
    "/belle/Data/release-06-00-08/DB00001234/proc13/prod00029531/e0012/4S/"
    "r01234/hadron/14120601/udst"
)
MC: dict[str, Any] = {
    "data_type": "mc",
    "release": "release-06-00-08",
    "db": 2288,
    "campaign": "MC15ri_b",
    "prod": 24816,
    "stream": 0,
    "exp": 1003,
    "beam_energy": "4S",
    "run": 0,
    "event_type_or_skim": "mixed",
    "data_level": "mdst",
}
DATA: dict[str, Any] = {
    **MC,
    "data_type": "data",
    "db": 1234,
    "campaign": "proc13",
    "prod": 29531,
    "stream": None,
    "exp": 12,
    "run": 1234,
    "event_type_or_skim": "hadron",
    "skim_code": "14120601",
    "data_level": "udst",
}


def test_mc_layout() -> None:
    path = DatasetPath(**MC)
    assert path.lpn == MC_LPN
    assert DatasetPath.parse(MC_LPN) == path
    assert path.skim_code is None


def test_data_layout_with_skim_code() -> None:
    path = DatasetPath(**DATA)
    assert path.lpn == UDST_LPN
    assert DatasetPath.parse(UDST_LPN) == path


def test_light_release_and_signal_event_type() -> None:
    signal = {"release": "light-2203-zeus", "event_type_or_skim": "1110021010"}
    path = DatasetPath(**MC | signal)
    assert "/light-2203-zeus/" in path.lpn
    assert path.lpn.endswith("/r00000/1110021010/mdst")
    assert DatasetPath.parse(path.lpn) == path


def test_dataset_path_is_frozen_and_hashable() -> None:
    path = DatasetPath.parse(MC_LPN)
    with pytest.raises(dataclasses.FrozenInstanceError):
        path.run = 1  # type: ignore[misc]
    assert {path, DatasetPath.parse(MC_LPN)} == {path}


def _with(lpn: str, index: int, part: str) -> str:
    pieces = lpn.split("/")
    pieces[index + 1] = part  # part 0 is 'belle', pieces[0] the empty root
    return "/".join(pieces)


@pytest.mark.parametrize(
    ("lpn", "message"),
    [
        (_with(UDST_LPN, 5, "prod29531"), "part 5 'prod29531' should look like "),
        (_with(UDST_LPN, 5, "prod29531"), "'prod00029531' ('prod' and 8 digits)"),
        (_with(UDST_LPN, 3, "DB1234"), "part 3 'DB1234' should look like 'DB00001234'"),
        (_with(UDST_LPN, 3, "db00001234"), "part 3 'db00001234' should look like 'D"),
        (_with(UDST_LPN, 6, "e12"), "part 6 'e12' should look like 'e0012'"),
        (_with(UDST_LPN, 6, "exp0012"), "part 6 'exp0012' should look like 'e0001'"),
        (_with(UDST_LPN, 8, "r000001234"), "part 8 'r000001234' should look like 'r0"),
        (_with(UDST_LPN, 8, "r123456"), "part 8 'r123456' should look like 'r00001'"),
        (_with(MC_LPN, 6, "s0"), "part 6 's0' should look like 's00'"),
        (_with(MC_LPN, 7, "e1003x"), "part 7 'e1003x' should look like 'e0001'"),
        (_with(MC_LPN, 1, "user"), "part 1 'user' should be 'Data' or 'MC'"),
        (_with(UDST_LPN, 2, "release-6-0-8"), "release 'release-6-0-8' should look "),
        (_with(UDST_LPN, 2, "light-22-zeus"), "release 'light-22-zeus' should look"),
        (_with(UDST_LPN, 10, "1412060"), "skim_code '1412060' should be 8 digits"),
        (_with(UDST_LPN, 11, "udsts"), "data_level 'udsts' should be one of raw,"),
        (_with(UDST_LPN, 11, "udsts"), "(did you mean 'udst'?)"),
        (_with(UDST_LPN, 11, "mdst"), "skim_code is for udst only, not 'mdst'"),
        (_with(MC_LPN, 10, "12345"), "event type '12345' is numeric but not a 10-dig"),
        (MC_LPN.replace("/mixed/mdst", "/udst"), "11 parts, not 12"),
        (MC_LPN.replace("/mdst", "/udst"), "'udst' needs a skim_code"),
        (UDST_LPN + "/x", "13 parts, not 11 (or 12 with a skim code): /belle/Data/"),
        ("/belle/MC/x", "3 parts, not 12 (or 13 with a skim code): /belle/MC/<rel"),
    ],
)
def test_parse_names_the_wrong_part(lpn: str, message: str) -> None:
    with pytest.raises(BadLFN) as info:
        DatasetPath.parse(lpn)
    assert message in info.value.reason
    assert info.value.lfn == lpn


def test_parse_validates_the_name_first() -> None:
    with pytest.raises(BadLFN, match="ends with '/'"):
        DatasetPath.parse(MC_LPN + "/")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data_type": "sim"}, "data_type 'sim' should be 'data' or 'mc'"),
        ({"release": "release-06-00"}, "release 'release-06-00' should look like"),
        ({"release": "light-2203-Zeus"}, "'light-2203-Zeus' should look like"),
        ({"db": -1}, "db -1 should be an int from 0 to 99999999"),
        ({"prod": 10**8}, "prod 100000000 should be an int from 0 to 99999999"),
        ({"exp": 10000}, "exp 10000 should be an int from 0 to 9999"),
        ({"run": 1.5}, "run 1.5 should be an int"),
        ({"run": True}, "run True should be an int"),
        ({"stream": None}, "stream None should be an int from 0 to 99"),
        ({"stream": 100}, "stream 100 should be an int from 0 to 99"),
        ({"campaign": "proc 13"}, "campaign 'proc 13': character ' ' at index 4"),
        ({"campaign": ".."}, "campaign '..': part '..' is a relative reference"),
        ({"beam_energy": ""}, "beam_energy '': it is empty"),
        ({"beam_energy": "4S/x"}, "beam_energy '4S/x': character '/' at index 2"),
        ({"event_type_or_skim": "x" * 129}, "event_type_or_skim 'xxx"),
        ({"event_type_or_skim": "123"}, "'123' is numeric but not a 10-digit signal"),
        ({"data_level": "mDST"}, "data_level 'mDST' should be one of raw, cdst, mds"),
        ({"data_level": "mDST"}, "(did you mean 'mdst'?)"),
        ({"skim_code": "14120601"}, "skim_code is for udst only, not 'mdst'; drop it"),
        ({"data_level": "udst"}, "data_level 'udst' needs a skim_code (8 digits"),
        ({"data_level": "udst", "skim_code": "x"}, "skim_code 'x' should be 8 digits"),
    ],
)
def test_construction_names_the_bad_field(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadLFN) as info:
        DatasetPath(**{**MC, **changes})
    assert message in info.value.reason


def test_data_has_no_stream() -> None:
    with pytest.raises(BadLFN, match="stream 0 is for MC only; data has stream=None"):
        DatasetPath(**DATA | {"stream": 0})


def test_the_whole_name_is_checked_too() -> None:
    fields = {"release": "light-2203-" + "z" * 60, "campaign": "c" * MAX_PART}
    fields |= {"beam_energy": "b" * MAX_PART, "event_type_or_skim": "x" * MAX_PART}
    with pytest.raises(BadLFN, match="over MAX_LFN=512"):
        DatasetPath(**MC | fields)


@st.composite
def dataset_paths(draw: st.DrawFn) -> DatasetPath:
    mc = draw(st.booleans())
    release = draw(
        st.one_of(
            st.builds(
                "release-{:02d}-{:02d}-{:02d}".format,
                *[st.integers(0, 99)] * 3,
            ),
            st.builds(
                "light-{:04d}-{}".format,
                st.integers(0, 9999),
                st.text(string.ascii_lowercase, min_size=1, max_size=8),
            ),
        )
    )
    if mc:
        event = draw(
            st.one_of(
                parts.filter(lambda p: not p.isdigit()),
                st.text(string.digits, min_size=10, max_size=10),
            )
        )
    else:
        event = draw(parts)
    level = draw(st.sampled_from(DATA_LEVELS))
    code = (
        draw(st.text(string.digits, min_size=8, max_size=8))
        if level == "udst"
        else None
    )
    return DatasetPath(
        data_type="mc" if mc else "data",
        release=release,
        db=draw(st.integers(0, 10**8 - 1)),
        campaign=draw(parts),
        prod=draw(st.integers(0, 10**8 - 1)),
        stream=draw(st.integers(0, 99)) if mc else None,
        exp=draw(st.integers(0, 9999)),
        beam_energy=draw(parts),
        run=draw(st.integers(0, 99999)),
        event_type_or_skim=event,
        skim_code=code,
        data_level=level,
    )


@given(dataset_paths())
def test_dataset_path_round_trips(path: DatasetPath) -> None:
    lpn = path.lpn
    assert validate_lfn(lpn) == lpn
    assert DatasetPath.parse(lpn) == path
    assert DatasetPath.parse(lpn).lpn == lpn
    assert namespace_of(lpn).kind == path.data_type
    assert lpn.endswith(f"/{path.data_level}")


#: part index of each number field: data, MC
NUMBERED = {"DB": (3, 3), "prod": (5, 5), "s": (None, 6), "e": (6, 7), "r": (8, 9)}


@given(dataset_paths(), st.sampled_from(sorted(NUMBERED)), st.booleans())
def test_numbers_of_the_wrong_width_never_parse(
    path: DatasetPath, prefix: str, longer: bool
) -> None:
    part = NUMBERED[prefix][path.data_type == "mc"]
    if part is None:
        return
    pieces = path.lpn.split("/")
    number = pieces[part + 1][len(prefix) :]
    wrong = f"{prefix}0{number}" if longer else f"{prefix}{number[1:]}"
    pieces[part + 1] = wrong
    with pytest.raises(BadLFN, match=f"part {part} '{wrong}' should look like"):
        DatasetPath.parse("/".join(pieces))
