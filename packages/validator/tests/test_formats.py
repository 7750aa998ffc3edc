from __future__ import annotations

import ast
import contextlib
import runpy
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest
from djed.validator import _formats
from djed.validator._formats import (
    FORMAT_CHECKERS,
    is_date,
    is_date_time,
    is_duration,
    is_email,
    is_hostname,
    is_idn_email,
    is_idn_hostname,
    is_ipv4,
    is_ipv6,
    is_iri,
    is_iri_reference,
    is_json_pointer,
    is_regex,
    is_relative_json_pointer,
    is_time,
    is_uri,
    is_uri_reference,
    is_uri_template,
    is_uuid,
)
from hypothesis import given
from hypothesis import strategies as st

Checker = Callable[[str], bool]

EXPECTED_FORMATS = {
    "date",
    "date-time",
    "duration",
    "email",
    "hostname",
    "idn-email",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "iri",
    "iri-reference",
    "json-pointer",
    "regex",
    "relative-json-pointer",
    "time",
    "uri",
    "uri-reference",
    "uri-template",
    "uuid",
}


def check_examples(checker: Checker, value: str, expected: bool) -> None:
    result = checker(value)
    assert isinstance(result, bool)
    assert result is expected, f"{checker.__name__}({value!r}) returned {result}"


@contextlib.contextmanager
def hang_guard(seconds: int = 5) -> Iterator[None]:
    """Raise TimeoutError in the block if it runs longer than `seconds`."""

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        message = f"still running after {seconds} s: not linear time"
        raise TimeoutError(message)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class TestRegistry:
    def test_every_format_has_a_checker(self) -> None:
        """FORMAT_CHECKERS maps every supported format name to its is_* function."""
        assert set(FORMAT_CHECKERS) >= EXPECTED_FORMATS
        for name, checker in FORMAT_CHECKERS.items():
            assert checker.__name__ == "is_" + name.replace("-", "_")
            assert checker.__name__ in _formats.__all__

    def test_module_imports_only_the_standard_library(self) -> None:
        """The module source imports nothing outside the standard library."""
        tree = ast.parse(Path(_formats.__file__).read_text(encoding="utf-8"))
        roots: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, "relative imports break the verbatim copy"
                roots.add((node.module or "").partition(".")[0])
        assert roots
        assert roots <= set(sys.stdlib_module_names) | {"__future__"}

    def test_source_runs_outside_the_package(self) -> None:
        """Executed as a lone file, the source defines working checkers."""
        namespace = runpy.run_path(_formats.__file__)
        assert namespace["FORMAT_CHECKERS"]["ipv4"]("10.0.0.1") is True


class TestDates:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2024-02-29", True),
            ("2000-02-29", True),
            ("1999-12-31", True),
            ("0000-01-01", True),
            ("2023-02-29", False),
            ("1900-02-29", False),
            ("2024-06-31", False),
            ("2024-00-10", False),
            ("2024-10-00", False),
            ("2024-7-04", False),
            ("24-07-04", False),
            ("2024/07/04", False),
            ("2024-07-04\n", False),
            ("2024-W27", False),
            ("2024-07-0\u0664", False),
        ],
    )
    def test_date(self, value: str, expected: bool) -> None:
        """A date is YYYY-MM-DD of ASCII digits naming a real calendar day."""
        check_examples(is_date, value, expected)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2024-07-04T12:30:00Z", True),
            ("2024-07-04t12:30:00z", True),
            ("2024-07-04T12:30:00.5+05:30", True),
            ("2016-12-31T23:59:60Z", True),
            ("2016-12-31T18:59:60-05:00", True),
            ("2016-12-31T23:59:60+01:00", False),
            ("2024-07-04 12:30:00Z", False),
            ("2024-07-04T12:30:00", False),
            ("2024-02-30T12:30:00Z", False),
            ("2024-07-04T12:30Z", False),
            ("2024-07-04T12:30:00+0530", False),
        ],
    )
    def test_date_time(self, value: str, expected: bool) -> None:
        """A date-time joins a date and a full time with T or t, as RFC 3339 writes it."""
        check_examples(is_date_time, value, expected)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("00:00:00Z", True),
            ("23:59:59.999999999+14:00", True),
            ("07:15:42-03:00", True),
            ("23:59:60z", True),
            ("00:44:60+00:45", True),
            ("18:29:60-05:30", True),
            ("12:59:60Z", False),
            ("23:59:60+00:01", False),
            ("24:00:00Z", False),
            ("12:60:00Z", False),
            ("12:00:61Z", False),
            ("12:00:00", False),
            ("12:00:00.Z", False),
            ("12:00:00+24:00", False),
            ("12:00:00+05:60", False),
            ("12:00:00Z+01:00", False),
            ("12:00:00 UTC", False),
        ],
    )
    def test_time(self, value: str, expected: bool) -> None:
        """A time needs an offset; second 60 only where UTC reads 23:59:60."""
        check_examples(is_time, value, expected)


class TestDuration:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("P3Y6M4DT12H30M5S", True),
            ("P10W", True),
            ("PT90M", True),
            ("P1Y5D", True),
            ("PT2H7S", True),
            ("P0D", True),
            ("P", False),
            ("PT", False),
            ("P5DT", False),
            ("P1W2D", False),
            ("P3M1Y", False),
            ("P2H", False),
            ("PT4D", False),
            ("P7", False),
            ("PT1.5S", False),
            ("p1d", False),
            ("1Y", False),
            ("P1YY", False),
        ],
    )
    def test_duration(self, value: str, expected: bool) -> None:
        """Durations keep element order, keep weeks alone and need a time element after T."""
        check_examples(is_duration, value, expected)


class TestIpAddresses:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("10.0.0.1", True),
            ("255.255.255.255", True),
            ("0.0.0.0", True),
            ("10.0.0.256", False),
            ("10.00.0.1", False),
            ("10.0.0", False),
            ("10.0.0.1.5", False),
            ("10.0.0.", False),
            ("10.0.0.1/8", False),
            (" 10.0.0.1", False),
            ("167772161", False),
            ("10.0.0.\u0661", False),
        ],
    )
    def test_ipv4(self, value: str, expected: bool) -> None:
        """IPv4 is four ASCII decimals 0-255 without leading zeros."""
        check_examples(is_ipv4, value, expected)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2001:db8::1", True),
            ("::", True),
            ("fe80::", True),
            ("0:0:0:0:0:0:0:0", True),
            ("ABCD:ef01:2345:6789:abcd:EF01:2345:6789", True),
            ("::ffff:10.0.0.1", True),
            ("64:ff9b::10.0.0.1", True),
            ("1:2:3:4:5:6:10.0.0.1", True),
            ("1:2:3:4:5:6:7::", True),
            ("1:2:3:4:5:6:7:8:9", False),
            ("1:2:3:4:5:6:7", False),
            ("1::2::3", False),
            ("1:::2", False),
            (":1:2:3:4:5:6:7", False),
            ("12345::", False),
            ("::g", False),
            ("::10.0.0.999", False),
            ("10.0.0.1::", False),
            ("fe80::1%lo0", False),
            ("2001:db8::/32", False),
            ("[::1]", False),
            ("::\u0661", False),
        ],
    )
    def test_ipv6(self, value: str, expected: bool) -> None:
        """IPv6 allows one :: and a final dotted quad; zones, prefixes and brackets fail."""
        check_examples(is_ipv6, value, expected)


LONGEST_HOSTNAME = ".".join(["h" * 63, "o" * 63, "s" * 63, "t" * 61])


class TestHostnames:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("example.org", True),
            ("localhost", True),
            ("EXAMPLE.org", True),
            ("9lives.example", True),
            ("xn--bcher-kva.example", True),
            ("example.org.", True),
            ("x" * 63, True),
            (LONGEST_HOSTNAME, True),
            (LONGEST_HOSTNAME + ".", True),
            (LONGEST_HOSTNAME + "t", False),
            ("x" * 64, False),
            ("", False),
            (".", False),
            ("example..org", False),
            (".example.org", False),
            ("-example.org", False),
            ("example-.org", False),
            ("under_score.org", False),
            ("sp ace.org", False),
            ("b\u00fccher.example", False),
        ],
    )
    def test_hostname(self, value: str, expected: bool) -> None:
        """Host names are LDH labels of 1-63 characters, 253 in all, optional root dot."""
        check_examples(is_hostname, value, expected)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("b\u00fccher.example", True),
            ("xn--bcher-kva.example", True),
            ("\u4f8b\u3048.\u30c6\u30b9\u30c8", True),
            ("\u03b1\u03b8\u03ae\u03bd\u03b1.gr", True),
            ("m\u00fcnchen\u3002de", True),
            ("plain-ascii.example", True),
            ("\u0645\u062b\u0627\u0644.\u0625\u062e\u062a\u0628\u0627\u0631", True),
            ("\u0915\u094d\u200d\u0937", True),
            ("\u00fc" * 60, False),
            ("", False),
            ("\u3002", False),
            ("ab--cd.example", False),
            ("xn--", False),
            ("xn--zz", False),
            ("-b\u00fccher", False),
            ("b\u00fccher-", False),
            ("M\u00dcNCHEN.de", False),
            ("\u0301accent", False),
            ("u\u0308ber", False),
            ("a\u200db", False),
            ("\u00b7x", False),
            ("caf\u00e9 bar", False),
            ("smile\u263a", False),
        ],
    )
    def test_idn_hostname(self, value: str, expected: bool) -> None:
        """IDN host names follow IDNA2008: valid code points, contexts, A-label limits."""
        check_examples(is_idn_hostname, value, expected)


LONGEST_EMAIL = "l" * 64 + "@" + ".".join(["d" * 63, "o" * 63, "m" * 61])


class TestEmail:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("ada@example.org", True),
            ("ada.lovelace+tag@mail.example.org", True),
            ("{}|~^`!#$%&'*+/=?@example", True),
            ('"ada lovelace"@example.org', True),
            ('"at@sign..inside"@example.org', True),
            ('"back\\"slash"@example.org', True),
            ("ada@[192.0.2.7]", True),
            ("ada@[IPv6:2001:db8::7]", True),
            ("ada@[ipv6:::1]", True),
            ("l" * 64 + "@example.org", True),
            (LONGEST_EMAIL, True),
            (LONGEST_EMAIL + "m", False),
            ("l" * 65 + "@example.org", False),
            ("ada", False),
            ("@example.org", False),
            ("ada@", False),
            ("ada..lovelace@example.org", False),
            (".ada@example.org", False),
            ("ada.@example.org", False),
            ("ada lovelace@example.org", False),
            ('"unclosed@example.org', False),
            ("ada@exa_mple.org", False),
            ("ada@example.org.", False),
            ("ada@[192.0.2.700]", False),
            ("ada@[2001:db8::7]", False),
            ("\u00e4da@example.org", False),
        ],
    )
    def test_email(self, value: str, expected: bool) -> None:
        """Mailboxes take a dot-atom or quoted local part and a host name or IP literal."""
        check_examples(is_email, value, expected)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("\u00e4da@example.org", True),
            ("\u7528\u6237@\u4f8b\u3048.\u30c6\u30b9\u30c8", True),
            ("ada@b\u00fccher.example", True),
            ('"\u00e4 b"@example.org', True),
            ("ada@[192.0.2.7]", True),
            ("\u00e4" * 32 + "@example.org", True),
            ("\u00e4" * 33 + "@example.org", False),
            ("\u00e4..da@example.org", False),
            ("ada@b\u00fccher.example\u3002", False),
            ("ada@-b\u00fccher.example", False),
            ("\ud800@example.org", False),
            ("ada@\ud800.example", False),
            ("ada", False),
        ],
    )
    def test_idn_email(self, value: str, expected: bool) -> None:
        """IDN mailboxes allow UTF-8 text and IDN domains; limits count UTF-8 octets."""
        check_examples(is_idn_email, value, expected)


class TestUris:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("https://example.org/a/b?c=d&e#f", True),
            ("https://user:pa%20ss@example.org:8443/", True),
            ("http://192.0.2.7:/", True),
            ("ldaps://[2001:db8::7]/o=org", True),
            ("coap://[v1.fe80::a+en1]/", True),
            ("file:///etc/hosts", True),
            ("urn:isbn:0451450523", True),
            ("mailto:ada@example.org", True),
            ("x-custom+v1.2:opaque", True),
            ("https://example.org/(paren)/a;b=c/@x", True),
            ("//example.org/path", False),
            ("relative/path", False),
            ("", False),
            ("1http://example.org", False),
            ("ht tp://example.org", False),
            ("https://exa mple.org", False),
            ("https://example.org/%zz", False),
            ("https://example.org/50%", False),
            ("https://example.org:80a/", False),
            ("https://2001:db8::7/", False),
            ("https://[192.0.2.7]/", False),
            ("https://[::1/", False),
            ("https://example.org/a#b#c", False),
            ("https://example.org/{x}", False),
            ("https://example.org/\\x", False),
            ("https://b\u00fccher.example/", False),
        ],
    )
    def test_uri(self, value: str, expected: bool) -> None:
        """URIs need a scheme; every component uses only its RFC 3986 characters."""
        check_examples(is_uri, value, expected)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("https://example.org/", True),
            ("//example.org/path", True),
            ("/absolute/path", True),
            ("relative/path:with-colon", True),
            ("./first:colon", True),
            ("?query=only", True),
            ("#frag", True),
            ("", True),
            ("first:colon/2", True),
            ("1st:colon", False),
            ("back\\slash", False),
            ("#frag#ment", False),
            ("with space", False),
        ],
    )
    def test_uri_reference(self, value: str, expected: bool) -> None:
        """URI references add relative references, whose first segment has no colon."""
        check_examples(is_uri_reference, value, expected)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("https://b\u00fccher.example/\u00e9t\u00e9?q=\u00fc#\u00e4", True),
            ("https://example.org/?\ue000", True),
            ("https://example.org/#\ue000", False),
            ("https://example.org/\u0085", False),
            ("https://example.org/\ufffe", False),
            ("/b\u00fccher", False),
        ],
    )
    def test_iri(self, value: str, expected: bool) -> None:
        """IRIs allow ucschar everywhere and private-use characters only in the query."""
        check_examples(is_iri, value, expected)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("/b\u00fccher/\u00e9t\u00e9", True),
            ("\u00e9t\u00e9", True),
            ("#\u00e4", True),
            ("\u00e9t\u00e9\\hiver", False),
            ("\u00e9t\u00e9 hiver", False),
        ],
    )
    def test_iri_reference(self, value: str, expected: bool) -> None:
        """IRI references are IRIs or relative references with ucschar text."""
        check_examples(is_iri_reference, value, expected)


class TestUriTemplate:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("https://example.org/users/{id}", True),
            ("/search{?q,lang}", True),
            ("{+path}/here", True),
            ("{#section}", True),
            ("/map{/lat,lon}{.fmt}{;params*}{&more}", True),
            ("{name:3}", True),
            ("{dotted.var_name}", True),
            ("{%C3%A9t%C3%A9}", True),
            ("no/expressions", True),
            ("", True),
            ("{unclosed", False),
            ("stray}", False),
            ("{}", False),
            ("{{nested}}", False),
            ("{=reserved}", False),
            ("{name:0}", False),
            ("{name:10000}", False),
            ("{a..b}", False),
            ("{.a,}", False),
            ("{with space}", False),
            ("sp ace/{x}", False),
            ("50%/{x}", False),
        ],
    )
    def test_uri_template(self, value: str, expected: bool) -> None:
        """Templates need balanced braces, known operators and well-formed varspecs."""
        check_examples(is_uri_template, value, expected)


class TestJsonPointers:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("", True),
            ("/", True),
            ("/items/3/name", True),
            ("/a~1b/c~0d", True),
            ("//x/", True),
            ("/with space/and\\slash", True),
            ("items/3", False),
            ("#/items", False),
            ("/a~", False),
            ("/a~3", False),
            ("/~01/~", False),
        ],
    )
    def test_json_pointer(self, value: str, expected: bool) -> None:
        """JSON Pointers are empty or /-separated tokens escaping ~ as ~0 or ~1."""
        check_examples(is_json_pointer, value, expected)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("0", True),
            ("3", True),
            ("42/items/0", True),
            ("7#", True),
            ("0/a~1b", True),
            ("", False),
            ("#", False),
            ("/items", False),
            ("03/items", False),
            ("-2/items", False),
            ("+2", False),
            ("2##", False),
            ("2#/x", False),
            ("2/a~", False),
        ],
    )
    def test_relative_json_pointer(self, value: str, expected: bool) -> None:
        """Relative pointers are a plain non-negative integer, then # or a JSON Pointer."""
        check_examples(is_relative_json_pointer, value, expected)


class TestRegexAndUuid:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("^[a-z]+\\d*$", True),
            ("", True),
            ("(?P<year>\\d{4})", True),
            ("[[nested]]", True),
            ("a--b|c&&d", True),
            ("(unclosed", False),
            ("[z-a]", False),
            ("*leading", False),
            ("x" * 10_000, True),
            ("x" * 10_001, False),
            ("(" * 5_000 + ")" * 5_000, False),
        ],
    )
    def test_regex(self, value: str, expected: bool) -> None:
        """A regex is any pattern Python re compiles, up to 10,000 characters."""
        check_examples(is_regex, value, expected)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("0f8fad5b-d9cb-469f-a165-70867728950e", True),
            ("0F8FAD5B-D9CB-469F-A165-70867728950E", True),
            ("ffffffff-ffff-ffff-ffff-ffffffffffff", True),
            ("0f8fad5b-d9cb-469f-a165-70867728950", False),
            ("0f8fad5bd9cb469fa16570867728950e", False),
            ("{0f8fad5b-d9cb-469f-a165-70867728950e}", False),
            ("0f8fad5b-d9cb-469f-a165-70867728950g", False),
            ("0f8fad5b-d9cb-469fa-165-70867728950e", False),
        ],
    )
    def test_uuid(self, value: str, expected: bool) -> None:
        """UUIDs are 8-4-4-4-12 hex digits with hyphens, any version and case."""
        check_examples(is_uuid, value, expected)


FORMAT_ALPHABETS = {
    "date": "0123456789-",
    "date-time": "0123456789-:.TtZz+ ",
    "time": "0123456789:.Zz+-",
    "duration": "PTYMWDHS0123456789",
    "email": 'a.@"\\[]:-1IPv6',
    "idn-email": 'a\u00e4.@"\\[]\u3002-',
    "hostname": "ab0.-_",
    "idn-hostname": "ax-n.\u3002\u00fc\u00b7l\u200c\u200d\u0628\u0660\u06f0\u0301\u30fb",
    "ipv4": "0123456789.",
    "ipv6": "0123456789abcdefABCDEF:.%/",
    "uri": "ab1:/?#[]@%!$&'()*+,;=-._~ ",
    "uri-reference": "ab1:/?#[]@%!$&'()*+,;=-._~ ",
    "iri": "a\u00e9\ue000\ufffe:/?#[]@%.",
    "iri-reference": "a\u00e9\ue000\ufffe:/?#[]@%.",
    "uri-template": "{}+#./;?&=,!@|:*%a0123456789",
    "json-pointer": "/~01a",
    "relative-json-pointer": "0123/~#",
    "regex": "()[]{}?*+|\\^$-&~.a1P<>:=!",
    "uuid": "0123456789abcdefABCDEF-",
}


class TestRobustness:
    @pytest.mark.parametrize("name", sorted(EXPECTED_FORMATS))
    @given(value=st.text())
    def test_never_raises_on_any_text(self, name: str, value: str) -> None:
        """Every checker returns a bool for arbitrary text, surrogates included."""
        assert isinstance(FORMAT_CHECKERS[name](value), bool)

    @pytest.mark.parametrize("name", sorted(EXPECTED_FORMATS))
    @given(data=st.data())
    def test_never_raises_on_format_like_text(self, name: str, data: st.DataObject) -> None:
        """Every checker returns a bool for text built from its own format's characters."""
        value = data.draw(st.text(alphabet=FORMAT_ALPHABETS[name], max_size=80))
        assert isinstance(FORMAT_CHECKERS[name](value), bool)


N = 100_000
ADVERSARIAL_INPUTS: dict[str, list[str]] = {
    "date": ["2024-01-01" + "1" * N, "1" * N],
    "date-time": ["2024-01-01T00:00:00." + "1" * N + "!", "2024-01-01T00:00:00." + "1" * N],
    "time": ["00:00:00." + "9" * N + "+", "0" * N],
    "duration": ["P" + "1" * N + "!", "P" + "1Y" * N, "PT" + "1" * N, "P" + "T1S" * N],
    "email": ["a" * N + "!", "a." * N + "@x", '"' + "\\a" * N, "a@" + "a." * N],
    "idn-email": ["\u00e4" * N + "!", "a@" + "\u00fc." * N],
    "hostname": ["a." * N, "a" * N, "a-" * N],
    "idn-hostname": ["\u00fc." * N, "xn--" + "a" * N, "\u0628\u200c" * N, "\u00b7" * N],
    "ipv4": ["1." * N, "1" * N],
    "ipv6": ["1:" * N, "::" * N, "1" * N],
    "uri": ["http://" + "a" * N + "!", "a:" + "%" * N, "http://[" + "1:" * N, "a" * N + ":"],
    "uri-reference": ["/" + "a" * N + "\\", "%" * N, "//" + "a@" * N, "a:" * N],
    "iri": ["http://" + "\u00e9" * N + " ", "a:" + "%4" * N],
    "iri-reference": ["\u00e9" * N + "\\", "?" + "\ue000" * N + "#\ue000"],
    "uri-template": [
        "{" + "a" * N,
        "{" + "a." * N,
        "{a," * N,
        "{" + "a" * N + ":1",
        "{a}" * (N // 3) + "{",
        "{" * N,
        "{" + "%aa" * N,
    ],
    "json-pointer": ["/" + "~" * N, "/~0" * N + "~"],
    "relative-json-pointer": ["1" * N + "~", "1" * N + "/" + "~0" * N],
    "regex": ["(" * N, "(a|aa)*" * (N // 7), "x" * 9_999 + "(", "(" * 5_000 + ")" * 5_000],
    "uuid": ["0" * N, "0-" * N],
}


class TestLinearTime:
    def test_every_format_has_adversarial_inputs(self) -> None:
        """The linear-time guard covers every format."""
        assert set(ADVERSARIAL_INPUTS) == EXPECTED_FORMATS

    @pytest.mark.parametrize(
        ("name", "value"),
        [(name, value) for name, values in ADVERSARIAL_INPUTS.items() for value in values],
        ids=[
            f"{name}-{i}" for name, values in ADVERSARIAL_INPUTS.items() for i in range(len(values))
        ],
    )
    def test_crafted_long_input_finishes(self, name: str, value: str) -> None:
        """A crafted input of about 100,000 characters is judged well within 5 seconds."""
        with hang_guard(5):
            assert isinstance(FORMAT_CHECKERS[name](value), bool)
