"""How long a schema ``pattern`` can take, decided before it ever runs.

``re`` backtracks, so a schema from an untrusted source can carry a pattern that
takes exponential time (``^(a+)+$``) or a high power of the input length on a
crafted string. `analyse_pattern` reads a pattern with the ``re`` parser and
bounds its worst case; `guard_pattern` refuses the dangerous ones and wraps the
rest. `GuardedPattern` and `PatternInputTooLong` use nothing but ``re``, because
generated validator modules copy their source. Standard library only.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias, cast

if TYPE_CHECKING:  # the same private modules, under the names typeshed describes
    import sre_constants as _c
    import sre_parse as _parser
else:
    from re import _constants as _c
    from re import _parser

__all__ = [
    "GuardedPattern",
    "PatternInputTooLong",
    "UnsafePatternError",
    "analyse_pattern",
    "guard_pattern",
]


class PatternInputTooLong(ValueError):  # noqa: N818 - the name is part of the contract
    """A string is too long to be checked safely against a polynomial-time pattern."""

    def __init__(self, pattern: str, length: int, limit: int) -> None:
        super().__init__(
            f"string of {length} characters is longer than the {limit} characters"
            f" that pattern {pattern!r} may be checked against safely"
        )
        self.pattern = pattern
        self.length = length
        self.limit = limit


class GuardedPattern:
    """A compiled pattern that refuses strings longer than ``max_length`` (``None``: any).

    It stands in for the ``re.Pattern`` that fastjsonschema keeps in ``REGEX_PATTERNS``.
    """

    __slots__ = ("_regex", "max_length", "pattern")

    def __init__(self, pattern: str, max_length: int | None) -> None:
        self.pattern = pattern
        self.max_length = max_length
        self._regex = re.compile(pattern)

    @property
    def flags(self) -> int:
        """The flags of the compiled pattern, as ``re.Pattern.flags``."""
        return self._regex.flags

    def search(self, string: str) -> re.Match[str] | None:
        """``re.Pattern.search``, after the length check."""
        self._check(string)
        return self._regex.search(string)

    def match(self, string: str) -> re.Match[str] | None:
        """``re.Pattern.match``, after the length check."""
        self._check(string)
        return self._regex.match(string)

    def fullmatch(self, string: str) -> re.Match[str] | None:
        """``re.Pattern.fullmatch``, after the length check."""
        self._check(string)
        return self._regex.fullmatch(string)

    def _check(self, string: str) -> None:
        if self.max_length is not None and len(string) > self.max_length:
            raise PatternInputTooLong(self.pattern, len(string), self.max_length)

    def __repr__(self) -> str:
        return f"GuardedPattern({self.pattern!r}, max_length={self.max_length!r})"


class UnsafePatternError(ValueError):
    """A pattern that is not a valid regular expression or whose worst case is too slow.

    ``reason`` names the rule that refused it: ``"invalid"``, ``"too_long"``,
    ``"backreference"``, ``"exponential"``, ``"polynomial"`` (degree above 5),
    ``"empty_repeat"`` (a quantifier on something that matches no character),
    ``"too_complex"`` (beyond the analysis budget), ``"unsupported"`` (a construct
    the analysis does not know) or ``"unchecked"`` (the analysis failed: a bug).
    """

    def __init__(self, pattern: str, reason: str, detail: str) -> None:
        shown = pattern if len(pattern) <= 120 else pattern[:117] + "..."
        super().__init__(f"pattern {shown!r} {detail}")
        self.pattern = pattern
        self.reason = reason


_MAX_PATTERN = 1_000  # longer patterns are refused unread
_EXPAND = 10  # {m,n} with n up to this is expanded into copies, above it is a loop
_MAX_DEGREE = 5  # worst case n**6 or more is refused
_MAX_WAYS = 1_000  # a loop-free part matching one text in more ways is refused
_SLOW_STEP = 100  # re runs group repeats and lookarounds ~25-600x slower than `a+` per step
_BUDGET = 200_000  # analysis steps (well under a second) before a pattern is too complex

Chars: TypeAlias = tuple[tuple[int, int], ...]  # sorted disjoint inclusive code-point ranges
Item: TypeAlias = tuple[int, Any]  # one parsed node: (opcode, argument)
Sub: TypeAlias = _parser.SubPattern
Pair: TypeAlias = tuple[int, int]
_ALL: Chars = ((0, sys.maxunicode),)
_CHAR_OPS = frozenset({_c.LITERAL, _c.NOT_LITERAL, _c.ANY, _c.IN})
_REPEATS = frozenset({_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT})
_LOOKAROUNDS = frozenset({_c.ASSERT, _c.ASSERT_NOT})
_CATEGORIES = {_c.CATEGORY_DIGIT: r"\d", _c.CATEGORY_SPACE: r"\s", _c.CATEGORY_WORD: r"\w"}
_NEGATED = {
    _c.CATEGORY_NOT_DIGIT: _c.CATEGORY_DIGIT,
    _c.CATEGORY_NOT_SPACE: _c.CATEGORY_SPACE,
    _c.CATEGORY_NOT_WORD: _c.CATEGORY_WORD,
}


def analyse_pattern(pattern: str) -> Literal["linear", "polynomial"]:
    r"""How the worst-case matching time of ``pattern`` grows with the input length.

    The pattern, as ``re`` parses it, becomes a position automaton: one state per
    character-matching item (literal, ``.``, class, ``\d``...) holding its exact set
    of code points (case-folded under ``(?i)``), with edges counted as often as
    ``re`` can take them (``(a|a)`` parses as ``a(?:|)``: two ways on). ``{m,n}``
    with ``n <= 10`` is expanded into copies, larger and unbounded repeats become
    loops; anchors and lookarounds are transparent. Two paths read the same text
    when the sets they meet step by step intersect. The rules, in order:

    1. Refused: backreferences (``(a)\1``), and quantifiers on something that
       matches no character (``(?=a)+``).
    2. Exponential, refused: two different paths read one text around the same
       loop, back to the same state. That is a nested quantifier whose
       repetitions can split a text in several ways (``(a+)+``, ``(a*)*``,
       ``(\w+\s?)*``, ``(.*a){12}``) or alternatives that can match the same text
       (``(a|a)*``, ``(a|aa)+``, ``(a|a?)+``). It is allowed when a mandatory
       character the inner repeat cannot match ends each repetition
       (``^([a-z0-9]+-)*[a-z0-9]+$``, ``^(\d+,)*\d+$``), for alternatives that
       start alike but never match the same text (``(a|ab)*``), and for
       alternatives ``re`` merges into one class (``(\d|1)+`` is ``[\d1]+``).
    3. Exponential, refused: a repeat with a minimum above 10 whose body can match
       the empty string (``(a?){30}``), and loop-free parts that leave more than
       1,000 paths alive on one text (twenty ``a?`` then twenty ``a``).
    4. Polynomial of degree k: the longest chain of k loops where a text can go
       round one loop and also on to the next, and the next can go round on the
       same characters (``\d+\d+``, ``.*a.*``, ``^\s*.*\s*$``). An unanchored
       pattern is searched from every start, one more loop at the head of a chain,
       unless the chain ends where the match is already complete (``[a-z]+``
       stays linear, ``a+b`` is quadratic). Lookaround bodies are analysed the
       same way; their degree adds to the enclosing one, except at the start of
       an anchored pattern, where they run once. Degrees above 5 are refused.
    5. Otherwise linear.

    Patterns over 1,000 characters, and those whose analysis would take more
    than a fixed budget of steps (well under a second), are refused.

    Raises:
        UnsafePatternError: the pattern does not compile or is refused above;
            nothing else is raised for any ``str`` (``re`` may still warn).
    """
    return "linear" if _assess(pattern)[0] <= 1 else "polynomial"


def guard_pattern(pattern: str, *, polynomial_limit: int = 10_000) -> GuardedPattern:
    """Compile ``pattern`` for untrusted input, refusing exponential ones.

    Linear patterns take strings of any length. A polynomial pattern of degree k
    takes strings up to ``(polynomial_limit**2 / c) ** (1/k)`` characters, so that
    its worst case stays near that of ``a+b`` at ``polynomial_limit`` (about 0.1 s
    at 10,000). The cost c of one backtracking step multiplies how many paths can
    stay alive on one text, half the longest stretch of the pattern walked between
    two choices, and 100 when the pattern repeats a group or has a lookaround
    (``re`` steps through those 25 to 600 times slower than through a repeated
    character). ``a+b`` and other short quadratic patterns of single-character
    repeats get ``polynomial_limit`` itself.

    Raises:
        UnsafePatternError: see `analyse_pattern`.
        ValueError: ``polynomial_limit`` is not positive.
    """
    if polynomial_limit < 1:
        raise ValueError("polynomial_limit must be at least 1")
    degree, cost = _assess(pattern)
    if degree <= 1:
        return GuardedPattern(pattern, None)
    limit = math.floor((polynomial_limit**2 / cost) ** (1 / degree) + 1e-9)
    return GuardedPattern(pattern, max(1, limit))


def _assess(pattern: str) -> tuple[int, int]:
    """(degree, cost) of ``pattern``: worst case about ``cost * n**degree`` steps of ``a+b``."""
    if len(pattern) > _MAX_PATTERN:
        detail = f"has {len(pattern)} characters, more than the {_MAX_PATTERN} that can be checked"
        raise UnsafePatternError(pattern, "too_long", detail + " for safety; shorten it")
    try:
        re.compile(pattern)
        parsed = _parser.parse(pattern)
        flags = parsed.state.flags
        degree, ways, slow = _exponent(
            parsed, parsed, flags, anchored=_anchored(parsed, flags), budget=_Budget()
        )
    except re.error as exc:
        detail = f"is not a valid regular expression: {exc.msg} at position {exc.pos}"
        raise UnsafePatternError(pattern, "invalid", detail) from None
    except (RecursionError, OverflowError, MemoryError):
        raise UnsafePatternError(pattern, "too_complex", _TOO_COMPLEX) from None
    except _RefusalError as refusal:
        raise UnsafePatternError(pattern, refusal.reason, refusal.detail) from None
    except Warning:  # re's own warnings about the pattern, when filters turn them into errors
        raise
    except Exception as exc:  # fail closed: a pattern the analysis cannot finish is refused
        detail = f"could not be checked for safety ({type(exc).__name__}); please report it"
        raise UnsafePatternError(pattern, "unchecked", detail) from exc
    if degree > _MAX_DEGREE:
        raise UnsafePatternError(pattern, "polynomial", _too_slow(degree))
    if ways > _MAX_WAYS:
        detail = f"can match one text in more than {_MAX_WAYS} ways; {_EXCLUSIVE}"
        raise UnsafePatternError(pattern, "exponential", "can take exponential time: it " + detail)
    return max(degree, 1), ways * (_SLOW_STEP if slow else 1)


_TOO_COMPLEX = "is too complex to check for safety; use fewer nested, counted or optional parts"
_EXCLUSIVE = "make optional parts and alternatives that follow each other match different text"


def _too_slow(degree: int) -> str:
    return (
        f"can take time growing with the input length to the power {degree}: that many"
        " unbounded repeats (counting the search for a start) can take turns matching the"
        " same characters; separate them with a character they cannot match, or merge them"
    )


class _RefusalError(Exception):
    """Internal: why a pattern is refused; `_assess` turns it into `UnsafePatternError`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _Budget:
    def __init__(self) -> None:
        self.left = _BUDGET

    def spend(self, steps: int = 1) -> None:
        self.left -= steps
        if self.left < 0:
            raise _RefusalError("too_complex", _TOO_COMPLEX)


def _items(sub: Sub) -> list[Item]:
    return cast("list[Item]", sub.data)


def _anchored(sub: Sub, flags: int) -> bool:
    """Whether every match must start at the beginning of the string."""
    for op, av in _items(sub):
        if op == _c.AT and (
            av == _c.AT_BEGINNING_STRING or (av == _c.AT_BEGINNING and not flags & re.MULTILINE)
        ):
            return True
        if op == _c.SUBPATTERN:
            return _anchored(av[3], (flags | av[1]) & ~av[2])
        if op == _c.BRANCH:
            return all(_anchored(alt, flags) for alt in av[1])
        if op not in _LOOKAROUNDS and op != _c.AT:
            return False
    return False


def _exponent(
    root: Sub, sub: Sub, flags: int, *, anchored: bool, budget: _Budget
) -> tuple[int, int, bool]:
    """(degree, ways, slow steps) of one pattern or lookaround body; may raise `_RefusalError`."""
    leading: set[int] = set()
    for item in _items(sub) if anchored else ():
        if item[0] in _LOOKAROUNDS:
            leading.add(id(item))
        elif item[0] != _c.AT:
            break
    auto = _Automaton(budget, leading)
    whole = auto.seq(sub, flags)
    start = None
    if not anchored:  # search() retries at every start: a leading lazy ".*" loop
        start, node = len(auto.chars), auto.node()
        auto.position(_ALL)
        auto.loop_nodes.add(node)
        auto.link({start: 1}, _add({start: 1}, whole.first), node)
    culprit = auto.exponential_loop()
    if culprit is not None:
        raise _RefusalError("exponential", _explain(culprit, root))
    ways = max(auto.ways(whole.first) * max(whole.last.values(), default=1), whole.empty)
    ways *= max(1, auto.stretch() // 2)  # the work between two choices grows with its length
    degree = auto.degree(start, set(whole.final))
    slow = auto.slow or bool(auto.lookarounds)
    for body, body_flags, at_start in auto.lookarounds:
        body_degree, body_ways, _ = _exponent(root, body, body_flags, anchored=True, budget=budget)
        ways = max(ways, body_ways) if at_start else ways * body_ways
        if body_degree:
            degree = max(degree, body_degree) if at_start else max(degree, 1) + body_degree
    return degree, ways, slow


class _Frag(NamedTuple):
    """Glushkov sets of a sub-pattern, each position with its number of empty-matching paths."""

    first: dict[int, int]
    last: dict[int, int]
    final: tuple[int, ...]  # last positions that no zero-width assertion follows
    empty: int  # ways to match the empty string (sre keeps every way: (a|a) is a(?:|))
    clean: bool  # can match empty without passing a zero-width assertion


_EMPTY = _Frag({}, {}, (), 1, clean=True)
_ZERO_WIDTH = _Frag({}, {}, (), 1, clean=False)


def _add(*counts: dict[int, int]) -> dict[int, int]:
    total: dict[int, int] = {}
    for count in counts:
        for p, ways in count.items():
            total[p] = total.get(p, 0) + ways
    return total


def _times(count: dict[int, int], factor: int) -> dict[int, int]:
    return {p: ways * factor for p, ways in count.items()} if factor else {}


def _optional(frag: _Frag) -> _Frag:
    return frag._replace(empty=frag.empty + 1, clean=True)


class _Automaton:
    """Position automaton; each edge records the parse nodes that made it, and how often."""

    def __init__(self, budget: _Budget, leading: set[int]) -> None:
        self.budget = budget
        self.leading = leading
        self.chars: list[Chars] = []
        self.follow: list[dict[int, list[tuple[int, int]]]] = []
        self.loops: list[tuple[range, range, Item]] = []  # (nodes, positions, repeat), inner first
        self.loop_nodes: set[int] = set()
        self.slow = False  # a repeat that re runs through its general (group) repeat code
        self.lookarounds: list[tuple[Sub, int, bool]] = []
        self.nodes = 0
        self._meets: dict[Pair, bool] = {}
        self._groups: dict[tuple[int, ...], set[frozenset[int]]] = {}

    def node(self) -> int:
        self.nodes += 1
        return self.nodes - 1

    def position(self, chars: Chars) -> _Frag:
        self.budget.spend()
        self.chars.append(chars)
        self.follow.append({})
        here = len(self.chars) - 1
        return _Frag({here: 1}, {here: 1}, (here,), 0, clean=False)

    def link(self, lasts: dict[int, int], firsts: dict[int, int], node: int) -> None:
        for p, ways in lasts.items():
            self.budget.spend(len(firsts))
            for q, more in firsts.items():
                self.follow[p].setdefault(q, []).append((node, ways * more))

    def concat(self, a: _Frag, b: _Frag, node: int) -> _Frag:
        self.link(a.last, b.first, node)
        return _Frag(
            _add(a.first, _times(b.first, a.empty)),
            _add(b.last, _times(a.last, b.empty)),
            b.final + a.final if b.clean else b.final,
            a.empty * b.empty,
            a.clean and b.clean,
        )

    def seq(self, sub: Sub, flags: int) -> _Frag:
        node, frag = self.node(), _EMPTY
        for item in _items(sub):
            frag = self.concat(frag, self.item(item, flags), node)
        return frag

    def item(self, item: Item, flags: int) -> _Frag:  # noqa: PLR0911
        op, av = item
        if op in _CHAR_OPS:
            return self.position(_item_chars(op, av, flags))
        if op in _REPEATS:
            return self.repeat(item, flags)
        if op == _c.SUBPATTERN:
            return self.seq(av[3], (flags | av[1]) & ~av[2])
        if op == _c.ATOMIC_GROUP:  # analysed as if it could backtrack: an upper bound
            return self.seq(av, flags)
        if op in (_c.BRANCH, _c.GROUPREF_EXISTS):
            alts = av[1] if op == _c.BRANCH else (av[1], av[2])
            frags = [self.seq(alt, flags) if alt is not None else _EMPTY for alt in alts]
            return _Frag(
                _add(*(f.first for f in frags)),
                _add(*(f.last for f in frags)),
                sum((f.final for f in frags), ()),
                sum(f.empty for f in frags),
                any(f.clean for f in frags),
            )
        if op in _LOOKAROUNDS:
            self.lookarounds.append((av[1], flags, id(item) in self.leading))
            return _ZERO_WIDTH
        if op == _c.AT:
            return _ZERO_WIDTH
        if op == _c.GROUPREF:
            text = _show_item(item)
            raise _RefusalError(
                "backreference",
                f"uses a backreference ({text!r}), which can take exponential time;"
                " backreferences are not allowed",
            )
        detail = f"uses {getattr(op, 'name', op)}, which this check does not support; avoid it"
        raise _RefusalError("unsupported", detail)

    def repeat(self, item: Item, flags: int) -> _Frag:
        low, high, body = item[1]
        if high == 0:
            return _EMPTY
        node, positions = self.node(), len(self.chars)
        copies = [self.seq(body, flags)]
        size = len(self.chars) - positions
        inner = _items(body)
        self.slow |= not (len(inner) == 1 and inner[0][0] in _CHAR_OPS)  # re's general REPEAT
        if not size and high > 1:
            shown = _operand(_items(body))
            raise _RefusalError(
                "empty_repeat",
                f"repeats {shown!r}, which cannot match any character; remove the quantifier",
            )
        if high <= _EXPAND and size * high <= 200:
            copies += [self.seq(body, flags) for _ in range(high - 1)]
            frag = _EMPTY
            for copy in copies[:low]:
                frag = self.concat(frag, copy, node)
            tail = _EMPTY
            for copy in reversed(copies[low:]):
                tail = _optional(self.concat(copy, tail, node))
            return self.concat(frag, tail, node)
        once = copies[0]
        if low > _EXPAND and once.empty and size:
            shown = _operand(_items(body))
            raise _RefusalError(
                "exponential",
                f"can take exponential time: the repeated part {shown!r} can match the empty"
                f" string yet must repeat {low} times; make it match at least one character",
            )
        self.link(once.last, once.first, node)
        self.loop_nodes.add(node)
        self.loops.append((range(node, self.nodes), range(positions, len(self.chars)), item))
        # re tries each way of matching empty in every mandatory iteration, and once more after
        empty = once.empty ** min(low, 64) * (1 + once.empty if high > low else 1)
        return once._replace(empty=empty, clean=once.clean or not low)

    def meets(self, p: int, q: int) -> bool:
        key = (p, q) if p <= q else (q, p)
        if key not in self._meets:
            self._meets[key] = _overlap(self.chars[p], self.chars[q])
        return self._meets[key]

    def steps(
        self, pair: Pair, allowed: Callable[[int], bool] | None = None
    ) -> Iterator[tuple[int, int, int]]:
        """Pairs one character on from ``pair`` along two paths, with how many such path pairs."""
        p, q = pair
        for p2, made_p in self.follow[p].items():
            ways_p = sum(ways for node, ways in made_p if allowed is None or allowed(node))
            for q2, made_q in self.follow[q].items() if ways_p else ():
                self.budget.spend()
                ways_q = sum(ways for node, ways in made_q if allowed is None or allowed(node))
                if ways_q and self.meets(p2, q2):
                    yield p2, q2, ways_p * ways_q

    def exponential_loop(self) -> Item | None:
        """The innermost loop in which two different paths read one text back to one state."""
        for nodes, positions, item in self.loops:
            inside = nodes.__contains__
            for component in _components(((p, p) for p in positions), self.steps, inside):
                members = set(component)
                diagonal = [p for p, q in component if p == q]
                if diagonal and (
                    len(diagonal) < len(component)
                    or any(
                        (p2, p2) in members and sum(w for n, w in made if inside(n)) > 1
                        for p in diagonal
                        for p2, made in self.follow[p].items()
                    )
                ):
                    return item
        return None

    def ways(self, first: dict[int, int]) -> int:
        """Most loop-free paths that read one same text: a subset construction with counts."""
        most, seen, todo = 1, set(), self.read(first)
        while todo and most <= _MAX_WAYS:
            state = todo.pop()
            if (key := frozenset(state.items())) in seen:
                continue
            seen.add(key)
            most = max(most, sum(state.values()))
            following: dict[int, int] = {}
            for p, count in state.items():
                for q, made in self.follow[p].items():
                    if ways := sum(w for n, w in made if n not in self.loop_nodes):
                        following[q] = following.get(q, 0) + count * ways
            todo += self.read(following)
        return most

    def read(self, candidates: dict[int, int]) -> list[dict[int, int]]:
        """The states after reading one character, for every character, from ``candidates``."""
        self.budget.spend(len(candidates) + 1)
        order = tuple(sorted(candidates))
        if order not in self._groups:  # which candidates share a character: a sweep over ranges
            events = sorted(
                (bound, +1 if k == 0 else -1, i)
                for i, q in enumerate(order)
                for lo, hi in self.chars[q]
                for k, bound in enumerate((lo, hi + 1))
            )
            self.budget.spend(len(events))
            active: set[int] = set()
            groups: set[frozenset[int]] = set()
            for at, (bound, change, i) in enumerate(events):
                active.add(i) if change > 0 else active.discard(i)
                if active and (at + 1 == len(events) or events[at + 1][0] != bound):
                    groups.add(frozenset(active))
            self._groups[order] = groups
        return [{order[i]: candidates[order[i]] for i in group} for group in self._groups[order]]

    def stretch(self) -> int:
        """Most positions one path walks without going round a loop."""
        longest = [1] * len(self.chars)
        for p, follow in enumerate(self.follow):  # such edges always go to later positions
            for q, made in follow.items():
                if q > p and any(node not in self.loop_nodes for node, _ in made):
                    longest[q] = max(longest[q], longest[p] + 1)
        return max(longest, default=1)

    def reach(self, pair: Pair) -> set[Pair]:
        seen: set[Pair] = set()
        todo = [pair]
        while todo:
            for p, q, _ in self.steps(todo.pop()):
                if (p, q) not in seen:
                    seen.add((p, q))
                    todo.append((p, q))
        return seen

    def degree(self, start: int | None, finals: set[int]) -> int:
        """Longest chain of loops that can take turns over the same characters."""
        cyclic = {p for _, positions, _ in self.loops for p in positions}
        if start is not None:
            cyclic.add(start)
        chained: dict[int, list[int]] = {}
        for p in sorted(cyclic):
            reached = self.reach((p, p))
            chained[p] = [
                q
                for q in sorted(cyclic - {p})
                if (p, q) in reached and (q, q) in self.reach((p, q))
            ]
        memo: dict[tuple[int, bool], int] = {}

        def longest(p: int, *, searching: bool) -> int:
            if (p, searching) not in memo:
                memo[p, searching] = _MAX_DEGREE + 1  # a cycle of chained loops: too slow
                nxt = [q for q in chained[p] if not (searching and q in finals)]
                memo[p, searching] = 1 + max(
                    (longest(q, searching=searching) for q in nxt), default=0
                )
            return memo[p, searching]

        best = max((longest(p, searching=False) for p in cyclic if p != start), default=0)
        return best if start is None else max(best, longest(start, searching=True))


def _components(
    starts: Iterable[Pair],
    steps: Callable[[Pair, Callable[[int], bool]], Iterator[tuple[int, int, int]]],
    allowed: Callable[[int], bool],
) -> Iterator[list[Pair]]:
    """Strongly connected components reachable from ``starts`` (iterative Tarjan)."""
    index: dict[Pair, int] = {}
    low: dict[Pair, int] = {}
    stack: list[Pair] = []
    on_stack: set[Pair] = set()
    for root in starts:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, steps(root, allowed))]  # successors are (p, q, ways)
        while work:
            here, successors = work[-1]
            for p, q, _ in successors:
                nxt = (p, q)
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, steps(nxt, allowed)))
                    break
                if nxt in on_stack:
                    low[here] = min(low[here], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[here])
                if low[here] == index[here]:
                    component: list[Pair] = []
                    while not component or component[-1] != here:
                        component.append(stack.pop())
                        on_stack.discard(component[-1])
                    yield component


# Character sets


def _merge(ranges: Iterable[tuple[int, int]]) -> Chars:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _invert(chars: Chars) -> Chars:
    edges = [-1, *(bound for lo_hi in chars for bound in lo_hi), sys.maxunicode + 1]
    return tuple(
        (a + 1, b - 1) for a, b in zip(edges[::2], edges[1::2], strict=True) if a + 1 <= b - 1
    )


def _overlap(a: Chars, b: Chars) -> bool:
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i][1] < b[j][0]:
            i += 1
        elif b[j][1] < a[i][0]:
            j += 1
        else:
            return True
    return False


def _has(chars: Chars, cp: int) -> bool:
    i = bisect.bisect_right(chars, (cp, sys.maxunicode + 1)) - 1
    return i >= 0 and chars[i][1] >= cp


@functools.cache
def _category_chars(ascii_only: bool) -> dict[int, Chars]:
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    flags = re.ASCII if ascii_only else 0
    found: dict[int, Chars] = {
        code: tuple((m.start(), m.end() - 1) for m in re.finditer(f"{escape}+", every, flags))
        for code, escape in _CATEGORIES.items()
    }
    found.update({code: _invert(found[base]) for code, base in _NEGATED.items()})
    return found


@functools.cache
def _case_classes() -> dict[int, tuple[int, ...]]:
    """Each cased character -> the characters ``(?i)`` may equate with it (a superset)."""
    parent: dict[int, int] = {}

    def root(cp: int) -> int:
        while cp in parent:
            cp = parent[cp]
        return cp

    for cp in range(sys.maxunicode + 1):
        char = chr(cp)
        for other in (char.lower(), char.upper()):
            if other != char and (a := root(cp)) != (b := root(ord(other[0]))):
                parent[a] = b
    groups: dict[int, list[int]] = {}
    for cp in {*parent, *parent.values()}:
        groups.setdefault(root(cp), []).append(cp)
    return {cp: tuple(group) for group in groups.values() for cp in group}


def _fold(chars: Chars) -> Chars:
    classes = _case_classes()
    if sum(hi - lo + 1 for lo, hi in chars) <= 256:
        cased: Iterable[int] = (cp for lo, hi in chars for cp in range(lo, hi + 1))
    else:
        cased = (cp for cp in classes if _has(chars, cp))
    return _merge([*chars, *((m, m) for cp in cased for m in classes.get(cp, ()))])


def _item_chars(op: int, av: Any, flags: int) -> Chars:
    """The code points one item can match; an upper bound (negated sets are not folded)."""
    if op == _c.NOT_LITERAL:
        return _invert(((av, av),))
    if op == _c.ANY:
        return _ALL if flags & re.DOTALL else _invert(((10, 10),))
    parts: list[tuple[int, int]] = []
    negate = False
    for kind, value in [(op, av)] if op == _c.LITERAL else av:
        if kind == _c.NEGATE:
            negate = True
        elif kind == _c.LITERAL:
            parts.append((value, value))
        elif kind == _c.RANGE:
            parts.append(value)
        elif kind == _c.CATEGORY:
            parts += _category_chars(bool(flags & re.ASCII)).get(value, _ALL)
        else:
            return _ALL
    chars = _merge(parts)
    if negate:
        return _invert(chars)
    return _fold(chars) if flags & re.IGNORECASE else chars


# Showing parsed patterns in messages

_AT_TEXT = {
    _c.AT_BEGINNING: "^",
    _c.AT_BEGINNING_STRING: r"\A",
    _c.AT_END: "$",
    _c.AT_END_STRING: r"\Z",
    _c.AT_BOUNDARY: r"\b",
    _c.AT_NON_BOUNDARY: r"\B",
}
_CATEGORY_TEXT = {
    _c.CATEGORY_DIGIT: r"\d",
    _c.CATEGORY_NOT_DIGIT: r"\D",
    _c.CATEGORY_SPACE: r"\s",
    _c.CATEGORY_NOT_SPACE: r"\S",
    _c.CATEGORY_WORD: r"\w",
    _c.CATEGORY_NOT_WORD: r"\W",
}
_LAZY_OR_POSSESSIVE: dict[int, str] = {_c.MIN_REPEAT: "?", _c.POSSESSIVE_REPEAT: "+"}
_FLAG_LETTERS = {re.IGNORECASE: "i", re.MULTILINE: "m", re.DOTALL: "s", re.VERBOSE: "x"}


def _explain(item: Item, root: Sub) -> str:
    """Why the repeat ``item`` is exponential, and how to rewrite it."""
    _, (low, high, body) = item
    shown = _operand(_items(body))
    what = f"the repeated {'group' if shown.startswith('(') else 'item'} {shown!r}"
    items = _items(body)
    while len(items) == 1 and items[0][0] == _c.SUBPATTERN:
        items = _items(items[0][1][3])
    nested = _inner_loop(items)
    if nested is not None:
        many = "an unbounded item" if nested[1][1] == _c.MAXREPEAT else "an item over 10 times"
        advice = "for example by ending each repetition with a character the inner one cannot match"
        if items == [nested] and high == nested[1][1] == _c.MAXREPEAT:
            merged = _operand(_items(nested[1][2])) + _quantifier(
                low * nested[1][0], high, nested[0]
            )
            advice = f"for example {_show(_items(root), {id(item): merged})!r}"
        return (
            f"can take exponential time: {what} itself repeats {many};"
            f" rewrite it without nested quantifiers ({advice})"
        )
    if items and items[-1][0] == _c.BRANCH:
        return (
            f"can take exponential time: alternatives in {what} can match the same text;"
            " rewrite them so that no two can match the same text"
        )
    return (
        f"can take exponential time: {what} can match the same text in more than one way;"
        " rewrite it so that each repetition has only one way to match"
    )


def _inner_loop(items: list[Item]) -> Item | None:
    """The first repeat in ``items`` analysed as a loop (unbounded or above 10), if any."""
    for item in items:
        op, av = item
        if op in _REPEATS and av[1] > _EXPAND:
            return item
        if op in _REPEATS or op == _c.SUBPATTERN:
            parts = [av[-1]]
        else:
            parts = av[1] if op == _c.BRANCH else [av] if op == _c.ATOMIC_GROUP else []
        for part in parts:
            if (found := _inner_loop(_items(part))) is not None:
                return found
    return None


def _show(items: list[Item], replace: dict[int, str] | None = None) -> str:
    """Pattern text of ``items``; a trailing alternation gets back the prefix re factored out."""
    if len(items) > 1 and items[-1][0] == _c.BRANCH:
        head = _show(items[:-1], replace)
        return "|".join(head + _show(_items(alt), replace) for alt in items[-1][1][1])
    texts = [_show_item(item, replace) for item in items]
    if len(items) > 1:
        texts = [f"(?:{t})" if i[0] == _c.BRANCH else t for i, t in zip(items, texts, strict=True)]
    return "".join(texts)


def _operand(items: list[Item], replace: dict[int, str] | None = None) -> str:
    """``items`` as the operand of a quantifier, grouped when needed."""
    text = _show(items, replace)
    simple = len(items) == 1 and items[0][0] not in _REPEATS | {_c.BRANCH, _c.AT}
    return text if simple else f"(?:{text})"


def _quantifier(low: int, high: int, op: int) -> str:
    if high == _c.MAXREPEAT:
        text = {0: "*", 1: "+"}.get(low, f"{{{low},}}")
    else:
        text = (
            "?" if (low, high) == (0, 1) else f"{{{low}}}" if low == high else f"{{{low},{high}}}"
        )
    return text + _LAZY_OR_POSSESSIVE.get(op, "")


def _escape(cp: int, *, in_set: bool = False) -> str:
    char = chr(cp)
    if char in ("\\]^-" if in_set else "\\.^$*+?{}[]()|"):
        return "\\" + char
    return char if char.isprintable() else char.encode("unicode_escape").decode("ascii")


def _show_item(item: Item, replace: dict[int, str] | None = None) -> str:  # noqa: PLR0911
    if replace and id(item) in replace:
        return replace[id(item)]
    op, av = item
    if op == _c.LITERAL:
        return _escape(av)
    if op == _c.NOT_LITERAL:
        return f"[^{_escape(av, in_set=True)}]"
    if op == _c.ANY:
        return "."
    if op == _c.IN:
        parts = [
            _escape(value, in_set=True)
            if kind == _c.LITERAL
            else f"{_escape(value[0], in_set=True)}-{_escape(value[1], in_set=True)}"
            if kind == _c.RANGE
            else _CATEGORY_TEXT.get(value, "")
            for kind, value in av
            if kind != _c.NEGATE
        ]
        negate = "^" if av and av[0][0] == _c.NEGATE else ""
        alone = len(av) == 1 and av[0][0] == _c.CATEGORY
        return parts[0] if alone else f"[{negate}{''.join(parts)}]"
    if op in _REPEATS:
        return _operand(_items(av[2]), replace) + _quantifier(av[0], av[1], op)
    if op == _c.BRANCH:
        return "|".join(_show(_items(alt), replace) for alt in av[1])
    if op == _c.SUBPATTERN:
        group, add, remove, body = av
        on = "".join(v for k, v in _FLAG_LETTERS.items() if add & k)
        off = "".join(v for k, v in _FLAG_LETTERS.items() if remove & k)
        head = "(" if group else f"(?{on}{'-' + off if off else ''}:"
        return f"{head}{_show(_items(body), replace)})"
    if op in _LOOKAROUNDS:
        sign = "=" if op == _c.ASSERT else "!"
        return f"(?{'<' if av[0] < 0 else ''}{sign}{_show(_items(av[1]), replace)})"
    if op == _c.ATOMIC_GROUP:
        return f"(?>{_show(_items(av), replace)})"
    if op == _c.GROUPREF:
        return f"\\{av}"
    if op == _c.GROUPREF_EXISTS:
        no = f"|{_show(_items(av[2]), replace)}" if av[2] is not None else ""
        return f"(?({av[0]}){_show(_items(av[1]), replace)}{no})"
    return _AT_TEXT.get(av, "") if op == _c.AT else "?"
