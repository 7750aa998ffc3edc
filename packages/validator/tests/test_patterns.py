from __future__ import annotations

import contextlib
import re
import signal
from collections.abc import Iterator
from types import FrameType

import pytest
from djed.validator._patterns import (
    GuardedPattern,
    PatternInputTooLong,
    UnsafePatternError,
    analyse_pattern,
    guard_pattern,
)
from hypothesis import given, settings
from hypothesis import strategies as st

ALARM_SECONDS = 10

LINEAR = [
    r"^abc$",
    r"abc",
    r"^[a-z]+$",
    r"^\d{3}-\d{4}$",
    r"^([a-z0-9]+-)*[a-z0-9]+$",
    r"^(\d+,)*\d+$",
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
    r"^\d{4}-\d{2}-\d{2}$",
    (
        r"^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt ]([01]\d|2[0-3]):([0-5]\d)"
        r":([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):([0-5]\d))$"
    ),
    r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$",
    (
        r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
        r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
    ),
    r"^\+[1-9]\d{1,14}$",
    r"^(\+\d{1,2}\s?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}$",
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
    (
        r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
        r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
        r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
    ),
    r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$",
    (
        r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*"
        r"([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$"
    ),
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
    r"^#(?:[0-9a-fA-F]{3}){1,2}$",
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$",
    r"^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)[A-Za-z\d@$!%*?&]{8,}$",
    r"^[A-Za-z_][A-Za-z0-9_]*$",
    r"^\d+(\.\d+)*$",
    r"[a-z]+",
    r"\d+",
    r"(a|ab)*",
    r"(\d|1)+",
    r"(?i)^([a-z0-9]+-)*[a-z0-9]+$",
]

POLYNOMIAL = [
    r".*a.*",
    r"\d+\d+",
    r"^\s*.*\s*$",
    r".*a.*b",
    r"a+b",
    r"\d+\d+$",
    r"^\S+@\S+\.\S+$",
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    r"^(.*a){4}$",
    r"\w+(?=!)",
    r"(?=.*a)b",
]

REFUSED = [
    (r"(a+)+", "exponential"),
    (r"^(a+)+$", "exponential"),
    (r"(a*)*", "exponential"),
    (r"(a|a)*", "exponential"),
    (r"(a|aa)+", "exponential"),
    (r"(a|a?)+", "exponential"),
    (r"(a?a?)+", "exponential"),
    (r"(.*a){12}", "exponential"),
    (r"(.*a){20}", "exponential"),
    (r"(a+){2,}", "exponential"),
    (r"(x+x+)+y", "exponential"),
    (r"^(([a-z])+.)+[A-Z]([a-z])+$", "exponential"),
    (r"(\w+\s?)*$", "exponential"),
    (r"^\w+([.-]?\w+)*@\w+([.-]?\w+)*(\.\w{2,3})+$", "exponential"),
    (r"(?i)^(k+\u212a+)*$", "exponential"),
    (r"(?=(a+)+$)", "exponential"),
    (r"(a?){30}", "exponential"),
    ("a?" * 20 + "a" * 20, "exponential"),
    (r"(.*a){10}", "polynomial"),
    (r"(a)\1", "backreference"),
    (r"(?P<x>a+)(?P=x)", "backreference"),
    (r"(?=a)+", "empty_repeat"),
    (r"^(?:){2,}", "empty_repeat"),
    ("a" * 1001, "too_long"),
    ("[ab]?" * 200, "too_complex"),
]

INVALID = ["[", "(?P<", "(", "a{2,1}", "*", "a**", "(?<=a+)b", "\\", "(?P<1>a)"]

DANGEROUS_LOOKING = [pattern for pattern, _ in REFUSED] + [
    r"(a|ab)*",
    r"^(a|ab)*$",
    r"^([a-z0-9]+-)*[a-z0-9]+$",
    r"^(\d+,)*\d+$",
    r"^(a+b)*$",
    r"(a|)*b",
    r"(a?)*b",
    r"^(a?){10}a{10}$",
    r"(?:a{1,10}){1,10}!",
    r"^(.*a){4}$",
    r"^(.*a){5}$",
    r"\d+\d+$",
    r".*a.*b",
    r"^(a|b|ab)*c$",
    r"((a)*)+?!",
]


@contextlib.contextmanager
def deadline(what: str) -> Iterator[None]:
    """Fail the test if the block runs longer than ALARM_SECONDS."""

    def expire(signum: int, frame: FrameType | None) -> None:
        pytest.fail(f"{what} ran for more than {ALARM_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(ALARM_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def assert_finishes(pattern: str) -> None:
    """guard_pattern refuses pattern, or matching adversarial strings finishes in time.

    The strings are ``a`` * 30 and * 5000 then ``!`` (search and fullmatch), and for a
    polynomial pattern one of exactly its length limit (search, as fastjsonschema does).
    """
    try:
        guarded = guard_pattern(pattern)
    except UnsafePatternError:
        return
    limit = guarded.max_length
    for text in ("a" * 30 + "!", "a" * 5000 + "!"):
        if limit is None or len(text) <= limit:
            for method in (guarded.search, guarded.fullmatch):
                with deadline(f"{method.__name__}({pattern!r}) over {len(text)} characters"):
                    method(text)
    if limit is not None:
        with deadline(f"search({pattern!r}) over {limit} characters"):
            guarded.search("a" * (limit - 1) + "!")


OUTCOMES = frozenset(  # every classification and refusal reason but "unchecked" (a bug)
    {"linear", "polynomial", "invalid", "too_long", "backreference", "exponential"}
    | {"empty_repeat", "too_complex", "unsupported"}
)


def outcome(pattern: str) -> str:
    """The classification of pattern, or the reason it is refused."""
    try:
        return analyse_pattern(pattern)
    except UnsafePatternError as error:
        return error.reason


def regexes() -> st.SearchStrategy[str]:
    """Small well-formed patterns over the alphabet ``a()+*?|.``."""
    quantifiers = st.sampled_from(["+", "*", "?", "+?", "*?"])
    return st.recursive(
        st.sampled_from(["a", "a", "."]),
        lambda inner: st.one_of(
            st.tuples(inner, inner).map("".join),
            st.lists(inner, min_size=2, max_size=3).map(lambda alts: f"({'|'.join(alts)})"),
            st.tuples(inner, quantifiers).map(lambda part: f"({part[0]}){part[1]}"),
        ),
        max_leaves=8,
    )


class TestLinear:
    @pytest.mark.parametrize("pattern", LINEAR)
    def test_classified_linear(self, pattern: str) -> None:
        """Anchored literals, simple classes and common real-world patterns are linear."""
        assert analyse_pattern(pattern) == "linear"

    @pytest.mark.parametrize("pattern", LINEAR)
    def test_guard_has_no_length_limit(self, pattern: str) -> None:
        """A linear pattern is wrapped without a length limit."""
        assert guard_pattern(pattern).max_length is None

    def test_separator_makes_nested_quantifier_safe(self) -> None:
        """A mandatory separator the inner repeat cannot match keeps a nested quantifier linear."""
        assert analyse_pattern(r"^([a-z0-9]+-)*[a-z0-9]+$") == "linear"
        with pytest.raises(UnsafePatternError):  # the separator is in the inner class too
            analyse_pattern(r"^([a-z0-9-]+-)*[a-z0-9]+$")


class TestPolynomial:
    @pytest.mark.parametrize("pattern", POLYNOMIAL)
    def test_classified_polynomial(self, pattern: str) -> None:
        """Overlapping unbounded repeats in sequence make a pattern polynomial."""
        assert analyse_pattern(pattern) == "polynomial"

    def test_quadratic_limit_is_the_polynomial_limit(self) -> None:
        """A quadratic pattern with one way to match gets exactly polynomial_limit."""
        assert guard_pattern(r"a+b").max_length == 10_000
        assert guard_pattern(r"a+b", polynomial_limit=50).max_length == 50

    def test_higher_degree_gets_a_smaller_limit(self) -> None:
        """A cubic pattern gets polynomial_limit ** (2/3)."""
        assert guard_pattern(r"\d+\d+$").max_length == 464

    def test_group_repeats_and_lookarounds_get_a_smaller_limit(self) -> None:
        """re steps through group repeats and lookarounds far slower, so their limit is lower."""
        assert guard_pattern(r"(a)+b").max_length == 1_000
        assert guard_pattern(r"\w+(?=!)").max_length == 1_000

    def test_unanchored_search_counts_as_a_loop(self) -> None:
        """Searching retries every start, unless the match is complete once the loop is reached."""
        assert analyse_pattern(r"a+b") == "polynomial"
        assert analyse_pattern(r"^a+b") == "linear"
        assert analyse_pattern(r"a+") == "linear"

    def test_guard_refuses_too_long_and_accepts_up_to_the_limit(self) -> None:
        """A polynomial guard raises PatternInputTooLong above its limit and matches up to it."""
        guarded = guard_pattern(r".*a.*b")
        limit = guarded.max_length
        assert limit is not None
        assert guarded.search("x" * (limit - 2) + "ab")
        assert guarded.search("x" * limit) is None
        with pytest.raises(PatternInputTooLong) as caught:
            guarded.search("x" * (limit + 1))
        assert (caught.value.length, caught.value.limit) == (limit + 1, limit)
        assert caught.value.pattern == r".*a.*b"


class TestRefused:
    @pytest.mark.parametrize(("pattern", "reason"), REFUSED)
    def test_refused_with_reason(self, pattern: str, reason: str) -> None:
        """Classic ReDoS patterns, backreferences and oversized patterns are refused."""
        with pytest.raises(UnsafePatternError) as caught:
            guard_pattern(pattern)
        assert caught.value.reason == reason
        assert caught.value.pattern == pattern

    @pytest.mark.parametrize(("pattern", "reason"), REFUSED)
    def test_analyse_refuses_too(self, pattern: str, reason: str) -> None:
        """analyse_pattern raises the same error as guard_pattern."""
        with pytest.raises(UnsafePatternError):
            analyse_pattern(pattern)

    def test_nested_quantifier_message(self) -> None:
        """The message names the repeated group and suggests a rewrite."""
        with pytest.raises(UnsafePatternError) as caught:
            analyse_pattern(r"^(a+)+$")
        assert str(caught.value) == (
            "pattern '^(a+)+$' can take exponential time: the repeated group '(a+)' itself"
            " repeats an unbounded item; rewrite it without nested quantifiers"
            " (for example '^a+$')"
        )

    def test_rewrite_is_suggested_only_when_exact(self) -> None:
        """A merged quantifier is suggested only when the group holds nothing but the repeat."""
        with pytest.raises(UnsafePatternError, match=r"for example 'a\{2,\}'\)$"):
            analyse_pattern(r"(a+){2,}")
        with pytest.raises(UnsafePatternError, match="for example by ending each repetition"):
            analyse_pattern(r"(\w+\s?)*$")
        with pytest.raises(UnsafePatternError, match="itself repeats an item over 10 times"):
            analyse_pattern(r"(?:a{1000}){1000}")

    def test_alternatives_message(self) -> None:
        """Overlapping alternatives are named as such."""
        message = r"alternatives in the repeated group '\(a\|aa\)' can match the same text"
        with pytest.raises(UnsafePatternError, match=message):
            analyse_pattern(r"(a|aa)+")

    def test_backreference_message(self) -> None:
        """The backreference is quoted."""
        with pytest.raises(UnsafePatternError, match=r"backreference \('\\\\1'\)"):
            analyse_pattern(r"(a)\1")

    def test_long_pattern_is_shortened_in_message(self) -> None:
        """A pattern over the length cap is refused unread and quoted in part."""
        with pytest.raises(UnsafePatternError) as caught:
            analyse_pattern("a" * 5000)
        assert "5000 characters, more than the 1000" in str(caught.value)
        assert len(str(caught.value)) < 300

    def test_is_a_value_error(self) -> None:
        """UnsafePatternError is a ValueError."""
        assert issubclass(UnsafePatternError, ValueError)
        assert issubclass(PatternInputTooLong, ValueError)


class TestInvalid:
    @pytest.mark.parametrize("pattern", INVALID)
    def test_invalid_regex_is_refused(self, pattern: str) -> None:
        """A pattern that does not compile raises UnsafePatternError, not re.error."""
        with pytest.raises(UnsafePatternError) as caught:
            analyse_pattern(pattern)
        assert caught.value.reason == "invalid"
        assert "not a valid regular expression" in str(caught.value)

    def test_message_has_re_message_and_position(self) -> None:
        """The re error message and position are in the message."""
        with pytest.raises(UnsafePatternError, match="unterminated character set at position 0"):
            analyse_pattern("[")

    def test_deep_nesting_is_refused(self) -> None:
        """Absurdly nested groups are refused instead of raising RecursionError."""
        with pytest.raises(UnsafePatternError):
            analyse_pattern("(" * 499 + "a" + ")" * 499)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # re's "possible nested set" warnings
class TestNeverRaisesAnythingElse:
    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=60))
    def test_any_text(self, pattern: str) -> None:
        """Any string is classified or refused with UnsafePatternError."""
        assert outcome(pattern) in OUTCOMES

    @settings(max_examples=500, deadline=None)
    @given(st.text(alphabet="a()[]{}+*?|.^$\\-,0123dswDSWbB:=!<>P", max_size=40))
    def test_regex_like_text(self, pattern: str) -> None:
        """Regex-looking strings are classified or refused with UnsafePatternError."""
        assert outcome(pattern) in OUTCOMES


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="the deadline needs signal.alarm")
class TestNoHang:
    @pytest.mark.parametrize("pattern", DANGEROUS_LOOKING)
    def test_known_patterns_finish(self, pattern: str) -> None:
        """Every accepted dangerous-looking pattern searches adversarial input in time."""
        assert_finishes(pattern)

    @settings(max_examples=200, deadline=None)
    @given(regexes())
    def test_generated_patterns_finish(self, pattern: str) -> None:
        """Every accepted small generated pattern, bare or anchored, finishes in time."""
        assert_finishes(pattern)
        assert_finishes(f"^{pattern}$")

    @settings(max_examples=200, deadline=None)
    @given(st.text(alphabet="a()+*?|.", min_size=1, max_size=12))
    def test_raw_alphabet_patterns_finish(self, pattern: str) -> None:
        """Every accepted string over a()+*?|., bare or anchored, finishes in time."""
        assert_finishes(pattern)
        assert_finishes(f"^{pattern}$")


class TestGuardedPattern:
    def test_delegates_to_the_compiled_regex(self) -> None:
        """search, match and fullmatch behave like the compiled pattern."""
        guarded, plain = GuardedPattern(r"b+", None), re.compile(r"b+")
        for text in ("abbc", "bb", "a"):
            for method in ("search", "match", "fullmatch"):
                got, want = getattr(guarded, method)(text), getattr(plain, method)(text)
                assert (got and got.span()) == (want and want.span())
        assert guarded.pattern == "b+"
        assert guarded.flags == plain.flags

    def test_no_limit_takes_any_length(self) -> None:
        """max_length None never refuses."""
        assert GuardedPattern(r"^a+$", None).search("a" * 100_000)

    def test_limit_applies_to_every_method(self) -> None:
        """Strings over max_length are refused by search, match and fullmatch alike."""
        guarded = GuardedPattern(r"a", 3)
        assert guarded.search("xxa")
        for method in (guarded.search, guarded.match, guarded.fullmatch):
            with pytest.raises(PatternInputTooLong):
                method("aaaa")

    def test_too_long_message(self) -> None:
        """The message gives the length, the limit and the pattern."""
        error = PatternInputTooLong("x+", 11, 10)
        assert str(error) == (
            "string of 11 characters is longer than the 10 characters"
            " that pattern 'x+' may be checked against safely"
        )
        assert (error.pattern, error.length, error.limit) == ("x+", 11, 10)

    def test_repr(self) -> None:
        """The repr shows the pattern and the limit."""
        assert repr(GuardedPattern("a", 5)) == "GuardedPattern('a', max_length=5)"

    def test_polynomial_limit_must_be_positive(self) -> None:
        """A non-positive polynomial_limit is a ValueError."""
        with pytest.raises(ValueError, match="polynomial_limit"):
            guard_pattern("a+b", polynomial_limit=0)
