"""Cut strings: the grammar, errors with positions and suggestions, no eval."""

from __future__ import annotations

import pytest

from b2grid.analysis import cuts
from b2grid.analysis.variables import compile_expression
from b2grid.errors import BadCut, UnknownVariable


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1.8 < M < 1.9", "1.8 < M < 1.9"),
        ("a < 1 or b > 2 and c == 3", "[a < 1] or [[b > 2] and [c == 3]]"),
        ("not a < 1 and b", "[not [a < 1]] and b"),
        ("[a < 1 or b > 2] and c", "[[a < 1] or [b > 2]] and c"),
        ("(a < 1 or b > 2) and c", "[[a < 1] or [b > 2]] and c"),
        ("a + 2 * b - c / 4 > -1e-3", "[a + [2 * b]] - [c / 4] > -0.001"),
        ("abs(dz) < 2", "abs(dz) < 2"),
        (
            "daughter(0, daughter(1, useCMSFrame(p))) >= .5",
            "daughter(0, daughter(1, useCMSFrame(p))) >= 0.5",
        ),
        ("-x != 2", "-x != 2"),
    ],
)
def test_grammar(text: str, canonical: str) -> None:
    assert str(cuts.parse(text)) == canonical
    assert str(cuts.parse(canonical)) == canonical  # canonical text parses to itself


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ("M >", 3, "a number, a variable"),
        ("1.8 < M < ", 10, "a number, a variable"),
        ("kaonID > 0.5 and", 16, "a number, a variable"),
        ("(M < 2", 6, "')'"),
        ("[M < 2)", 6, "']'"),
        ("M < 2 M > 1", 6, "'and', 'or'"),
        ("daughter(0 p) > 1", 11, "',' or ')'"),
        ("M $ 2", 2, "unexpected character '$'"),
        ("", 0, "a cut or an expression"),
        ("__import__('os')", 11, "unexpected character"),
    ],
)
def test_syntax_errors_name_the_cut_position_and_expectation(
    text: str, position: int, expected: str
) -> None:
    with pytest.raises(BadCut) as info:
        cuts.parse(text)
    err = info.value
    assert (err.cut, err.position) == (text, position)
    assert expected in err.expected
    assert isinstance(err, ValueError)
    assert f"at position {position}" in str(err)


def test_unknown_variables_get_near_miss_suggestions() -> None:
    with pytest.raises(UnknownVariable) as info:
        compile_expression("kaonId > 0.6 and abs(dr) < 2")
    err = info.value
    assert err.name == "kaonId"
    assert "did you mean 'kaonID'" in str(err)
    assert "kaonId > 0.6" in str(err)
    assert isinstance(err, LookupError)
    with pytest.raises(UnknownVariable, match=r"'useCMSframe'.*'useCMSFrame'"):
        compile_expression("useCMSframe(p) > 1")
    with pytest.raises(UnknownVariable, match=r"'Mbcc'.*'Mbc'"):
        compile_expression("daughter(0, Mbcc) > 1")


def test_nothing_is_evaluated_as_python() -> None:
    with pytest.raises(UnknownVariable, match="'exec'"):
        compile_expression("exec(1) > 0")
    with pytest.raises(UnknownVariable, match="'os'"):
        compile_expression("os > 0")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("daughter(0) > 1", r"daughter\(int, expr\) takes 2 argument"),
        ("daughter(p, 0) > 1", "int expected"),
        ("daughter(0.5, p) > 1", "an integer expected"),
        ("abs(p, 1) > 1", "takes 1 argument"),
    ],
)
def test_meta_variable_arguments_are_checked(text: str, match: str) -> None:
    with pytest.raises(BadCut, match=match):
        compile_expression(text)


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("1.8 < M < 1.9", (1.8, 1.9)),
        ("M > 1.8 and p > 1 and M < 1.9 and InvM < 1.85", (1.8, 1.85)),
        ("2.0 > M", (0.0, 2.0)),
        ("M < 1.9 or p > 1", (0.0, float("inf"))),
        ("not M < 1.9", (0.0, float("inf"))),
        ("abs(M - 1.86) < 0.05", (0.0, float("inf"))),
    ],
)
def test_mass_window_is_never_narrower_than_the_cut(text: str, window: tuple) -> None:
    assert cuts.mass_window(cuts.parse(text)) == window
