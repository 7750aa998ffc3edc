"""Checkers for the JSON Schema string formats of drafts 4, 6 and 7 (plus duration and uuid).

This module imports the Python standard library only: its source is copied verbatim into
generated ahead-of-time validator modules, which must run where Djed is not installed.

Every checker takes a ``str``, returns ``True`` when it is a valid instance of its format,
never raises, and runs in time linear in the length of its input: scanners are hand-written
or use regular expressions without nested or overlapping quantifiers, and formats whose
standard sets a length limit reject longer input before doing any other work.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable

__all__ = [
    "FORMAT_CHECKERS",
    "is_date",
    "is_date_time",
    "is_duration",
    "is_email",
    "is_hostname",
    "is_idn_email",
    "is_idn_hostname",
    "is_ipv4",
    "is_ipv6",
    "is_iri",
    "is_iri_reference",
    "is_json_pointer",
    "is_regex",
    "is_relative_json_pointer",
    "is_time",
    "is_uri",
    "is_uri_reference",
    "is_uri_template",
    "is_uuid",
]

# --- dates, times and durations (RFC 3339) ---------------------------------------------------

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIME = re.compile(
    r"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DURATION_WEEKS = re.compile(r"P[0-9]+W")
_DURATION_ELEMENT = re.compile(r"[0-9]+([A-Z])")


def is_date(value: str) -> bool:
    """Check an RFC 3339 ``full-date`` (section 5.6) against the Gregorian calendar."""
    match = _DATE.fullmatch(value)
    if match is None:
        return False
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    if not 1 <= month <= 12 or day < 1:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day <= _MONTH_DAYS[month - 1] + (month == 2 and leap)


def is_time(value: str) -> bool:
    """Check an RFC 3339 ``full-time`` (section 5.6), whose offset is required.

    Second 60 is a leap second, accepted only when the time shifted to UTC is 23:59:60.
    """
    match = _TIME.fullmatch(value)
    if match is None:
        return False
    hour, minute, second = int(match[1]), int(match[2]), int(match[3])
    offset_hour, offset_minute = int(match[5] or 0), int(match[6] or 0)
    if hour > 23 or minute > 59 or second > 60 or offset_hour > 23 or offset_minute > 59:
        return False
    if second < 60:
        return True
    offset = offset_hour * 60 + offset_minute
    utc_minute = hour * 60 + minute - (offset if match[4] == "+" else -offset)
    return utc_minute % 1440 == 23 * 60 + 59


# The everyday shape in one regex: days 01-28 exist in every month and no leap second
# (second 60) can match, so no further check is needed; anything else takes the full path.
_PLAIN_DATE_TIME = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])[Tt]"
    r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)


def is_date_time(value: str) -> bool:
    """Check an RFC 3339 ``date-time`` (section 5.6): date, ``T`` or ``t``, then full time."""
    if _PLAIN_DATE_TIME.fullmatch(value) is not None:
        return True
    return len(value) > 11 and value[10] in "Tt" and is_date(value[:10]) and is_time(value[11:])


def _duration_elements(part: str, units: str) -> int | None:
    # Counts the number-and-unit elements of `part`; None unless their units follow `units`.
    count, position, last_rank = 0, 0, -1
    while position < len(part):
        match = _DURATION_ELEMENT.match(part, position)
        rank = -1 if match is None else units.find(match[1])
        if match is None or rank <= last_rank:
            return None
        count, position, last_rank = count + 1, match.end(), rank
    return count


def is_duration(value: str) -> bool:
    """Check an RFC 3339 appendix A (ISO 8601) duration such as ``P1Y2M3DT4H5M6S`` or ``P2W``.

    Elements keep their order but any may be left out, as ISO 8601 allows; weeks stand alone,
    at least one element is required and a ``T`` must be followed by a time element.
    Designators are upper case and numbers are whole, as in the RFC 3339 grammar.
    """
    if value[:1] != "P":
        return False
    if _DURATION_WEEKS.fullmatch(value):
        return True
    date_part, separator, time_part = value[1:].partition("T")
    date_count = _duration_elements(date_part, "YMD")
    time_count = _duration_elements(time_part, "HMS")
    if date_count is None or time_count is None or (separator and not time_count):
        return False
    return date_count + time_count > 0


# --- IP addresses and host names (RFC 2673, 4291, 1123, 5890-5893) ----------------------------

_HEX_GROUP = re.compile(r"[0-9A-Fa-f]{1,4}")
_NOT_LDH = re.compile(r"[^A-Za-z0-9-]")
_IDN_SEPARATORS = re.compile("[.\u3002\uff0e\uff61]")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def is_ipv4(value: str) -> bool:
    """Check an IPv4 dotted quad: four ASCII decimals 0-255 without leading zeros.

    Capped at 15 characters, the longest dotted quad.
    """
    parts = value.split(".", 4) if len(value) <= 15 else ()
    return len(parts) == 4 and all(_is_octet(part) for part in parts)


def _is_octet(part: str) -> bool:
    return (
        part.isascii()
        and part.isdigit()
        and len(part) <= 3
        and (part == "0" or part[0] != "0")
        and int(part) <= 255
    )


def _ipv6_units(part: str, may_end_in_ipv4: bool) -> int:
    # The number of 16-bit units in colon-separated `part`, or -1 when malformed.
    if not part:
        return 0
    *groups, last = part.split(":")
    if not all(_HEX_GROUP.fullmatch(group) for group in groups):
        return -1
    if may_end_in_ipv4 and "." in last:
        return len(groups) + 2 if is_ipv4(last) else -1
    return len(groups) + 1 if _HEX_GROUP.fullmatch(last) else -1


def is_ipv6(value: str) -> bool:
    """Check an RFC 4291 section 2.2 IPv6 address, with ``::`` and a trailing dotted quad.

    Zone identifiers and prefix lengths are rejected. Capped at 45 characters, the longest
    textual form (six groups of four hex digits and a dotted quad).
    """
    if len(value) > 45:
        return False
    head, compressed, tail = value.partition("::")
    if not compressed:
        return _ipv6_units(value, may_end_in_ipv4=True) == 8
    if "::" in tail:
        return False
    head_units = _ipv6_units(head, may_end_in_ipv4=False)
    tail_units = _ipv6_units(tail, may_end_in_ipv4=True)
    return head_units >= 0 and tail_units >= 0 and head_units + tail_units <= 7


def _is_ldh_label(label: str) -> bool:
    return (
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and _NOT_LDH.search(label) is None
    )


def _is_hostname(value: str, allow_root: bool) -> bool:
    if allow_root and value.endswith("."):
        value = value[:-1]
    return 0 < len(value) <= 253 and all(_is_ldh_label(label) for label in value.split("."))


def is_hostname(value: str) -> bool:
    """Check an RFC 1123 section 2.1 host name: dot-separated letter-digit-hyphen labels.

    Labels hold 1-63 characters and neither start nor end with a hyphen; the name holds at
    most 253 characters, plus one optional trailing dot (the DNS root).
    """
    return _is_hostname(value, allow_root=True)


def is_idn_hostname(value: str) -> bool:
    """Check an internationalized host name: labels valid under IDNA2008 (RFC 5890-5893).

    Labels may be separated by any of the four IDNA full stops. Each label must be an ASCII
    LDH label, a valid ``xn--`` A-label, or a U-label whose A-label fits 63 characters, and
    the whole name in A-label form fits 253. ASCII letters are compared case-insensitively.
    The IDNA2008 tables are derived from ``unicodedata`` as RFC 5892 section 2 describes
    (Unicode version of this Python); the CONTEXTJ joining-type rule is approximated by
    script blocks, and the Bidi rule of RFC 5893 is applied to each label on its own.
    """
    if len(value) > 254:  # each character becomes at least one character of the A-label form
        return False
    labels = _IDN_SEPARATORS.split(value.translate(_ASCII_LOWER))
    if len(labels) > 1 and not labels[-1]:
        labels.pop()
    alabels = [_to_alabel(label) for label in labels]
    return None not in alabels and len(".".join(a or "" for a in alabels)) <= 253


def _to_alabel(label: str) -> str | None:
    # The A-label of a lowercased label, or None when the label is not valid IDNA2008.
    if label.isascii():
        if not _is_ldh_label(label) or label[2:4] != "--":
            return label if _is_ldh_label(label) else None
        if label[:4] != "xn--":
            return None  # RFC 5890 section 2.3.1: other "??--" labels are reserved
        try:
            ulabel = label[4:].encode("ascii").decode("punycode")
        except ValueError:
            return None
        canonical = not ulabel.isascii() and ulabel.encode("punycode").decode() == label[4:]
        return label if canonical and _is_ulabel(ulabel) else None
    if len(label) > 59 or not _is_ulabel(label):
        return None
    alabel = "xn--" + label.encode("punycode").decode("ascii")
    return alabel if len(alabel) <= 63 else None


# RFC 5892 section 2.6 exceptions, and the code points of sections 2.2-2.5 and 2.8-2.9 that
# general categories alone do not reveal (ignorable code points, ignorable blocks, old jamo).
_PVALID_EXCEPTIONS = frozenset("\u00df\u03c2\u06fd\u06fe\u0f0b\u3007")
_CONTEXTUAL = frozenset(
    "\u200c\u200d\u00b7\u0375\u05f3\u05f4\u30fb\u0660\u0661\u0662\u0663\u0664\u0665\u0666"
    "\u0667\u0668\u0669\u06f0\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6\u06f7\u06f8\u06f9"
)
_DISALLOWED_EXCEPTIONS = frozenset("\u0640\u07fa\u302e\u302f\u3031\u3032\u3033\u3034\u3035\u303b")
_DISALLOWED_RANGES = (
    (0x034F, 0x034F), (0x1100, 0x11FF), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x20D0, 0x20FF),
    (0x3164, 0x3164), (0xA960, 0xA97F), (0xD7B0, 0xD7FF), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0),
    (0x1D100, 0x1D24F), (0xE0000, 0xE0FFF),
)  # fmt: skip
_LETTERS_DIGITS = frozenset({"Ll", "Lu", "Lo", "Nd", "Lm", "Mn", "Mc"})
_GREEK = ((0x0370, 0x0374), (0x0376, 0x03FF), (0x1F00, 0x1FFF))
_HEBREW = ((0x0591, 0x05F4), (0xFB1D, 0xFB4F))
_KANA_HAN = (
    (0x2E80, 0x2FDF), (0x3005, 0x3007), (0x3021, 0x3029), (0x3041, 0x309F), (0x30A1, 0x30FA),
    (0x30FD, 0x30FF), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
    (0xFF66, 0xFF9D), (0x1B000, 0x1B16F), (0x20000, 0x3FFFF),
)  # fmt: skip
_JOINING_SCRIPTS = (
    (0x0600, 0x077F), (0x07C0, 0x07FF), (0x0840, 0x08FF), (0x1800, 0x18AF), (0xA840, 0xA87F),
    (0x10AC0, 0x10AFF), (0x10B80, 0x10BAF), (0x10D00, 0x10D3F), (0x10F30, 0x10FDF),
    (0x1E900, 0x1E95F),
)  # fmt: skip
_BIDI_RTL = frozenset({"R", "AL", "AN", "EN", "ES", "CS", "ET", "ON", "BN", "NSM"})
_BIDI_LTR = frozenset({"L", "EN", "ES", "CS", "ET", "ON", "BN", "NSM"})


def _in_ranges(char: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in ranges)


def _is_pvalid(char: str) -> bool:
    # RFC 5892 section 3: letters, digits and marks that case folding and NFKC leave alone.
    if char in _PVALID_EXCEPTIONS:
        return True
    if char in _DISALLOWED_EXCEPTIONS or _in_ranges(char, _DISALLOWED_RANGES):
        return False
    if unicodedata.category(char) not in _LETTERS_DIGITS:
        return False
    stable = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", char).casefold())
    return stable == char


def _is_ulabel(label: str) -> bool:
    if (
        not label
        or label[0] == "-"
        or label[-1] == "-"
        or label[2:4] == "--"
        or unicodedata.category(label[0])[0] == "M"
        or not unicodedata.is_normalized("NFC", label)
    ):
        return False
    for index, char in enumerate(label):
        valid = _context_ok(label, index) if char in _CONTEXTUAL else _is_pvalid(char)
        if not valid:
            return False
    return _bidi_ok(label)


def _context_ok(label: str, index: int) -> bool:
    # RFC 5892 appendix A: the rules for CONTEXTJ and CONTEXTO code points.
    char = label[index]
    before = label[index - 1] if index else " "
    after = label[index + 1] if index + 1 < len(label) else " "
    if char in "\u200c\u200d":
        virama = unicodedata.combining(before) == 9
        return virama or (char == "\u200c" and _joins(label[:index][::-1], label[index + 1 :]))
    if char == "\u00b7":
        return before == after == "l"
    if char == "\u0375":
        return _in_ranges(after, _GREEK)
    if char in "\u05f3\u05f4":
        return _in_ranges(before, _HEBREW)
    if char == "\u30fb":
        return any(_in_ranges(other, _KANA_HAN) for other in label)
    low, high = ("\u06f0", "\u06f9") if char <= "\u0669" else ("\u0660", "\u0669")
    return not any(low <= other <= high for other in label)


def _joins(before: Iterable[str], after: Iterable[str]) -> bool:
    # A joining letter on both sides of a zero width non-joiner, skipping transparent marks.
    return all(_next_is_joining(side) for side in (before, after))


def _next_is_joining(chars: Iterable[str]) -> bool:
    for char in chars:
        category = unicodedata.category(char)
        if category not in {"Mn", "Me", "Cf"}:
            return category in {"Lo", "Lm"} and _in_ranges(char, _JOINING_SCRIPTS)
    return False


def _bidi_ok(label: str) -> bool:
    # RFC 5893 section 2, for a label holding right-to-left characters.
    directions = [unicodedata.bidirectional(char) for char in label]
    present = set(directions)
    if not present & {"R", "AL", "AN"}:
        return True
    rtl = directions[0] in {"R", "AL"}
    if not (rtl or directions[0] == "L") or not present <= (_BIDI_RTL if rtl else _BIDI_LTR):
        return False
    if rtl and {"AN", "EN"} <= present:
        return False
    last = next(d for d in reversed(directions) if d != "NSM")
    return last in ({"R", "AL", "EN", "AN"} if rtl else {"L", "EN"})


# --- e-mail addresses (RFC 5321 section 4.1.2, RFC 6531 section 3.3) --------------------------

_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
_QTEXT = r"\x20\x21\x23-\x5b\x5d-\x7e"
_UTF8_NON_ASCII = "\u0080-\ud7ff\ue000-\U0010ffff"
_LOCAL_PARTS = {
    idn: (
        re.compile(f"[{_ATEXT}{extra}]+(?:\\.[{_ATEXT}{extra}]+)*"),
        re.compile(f'"(?:[{_QTEXT}{extra}]|\\\\[\\x20-\\x7e])*"'),
    )
    for idn, extra in ((False, ""), (True, _UTF8_NON_ASCII))
}


def _is_mailbox(value: str, idn: bool) -> bool:
    # Lengths count UTF-8 octets: 254 for the address (RFC 3696 erratum 1690), 64 for the
    # local part (RFC 5321 section 4.5.3.1.1).
    if len(value) > 254:
        return False
    local, at, domain = value.rpartition("@")
    dot_atom, quoted = _LOCAL_PARTS[idn]
    if not at or not (dot_atom.fullmatch(local) or quoted.fullmatch(local)):
        return False
    if len(value.encode(errors="surrogatepass")) > 254 or len(local.encode()) > 64:
        return False
    if domain[:1] == "[" and domain[-1:] == "]":
        literal = domain[1:-1]
        return is_ipv6(literal[5:]) if literal[:5].lower() == "ipv6:" else is_ipv4(literal)
    if idn:
        return _IDN_SEPARATORS.fullmatch(domain[-1:]) is None and is_idn_hostname(domain)
    return _is_hostname(domain, allow_root=False)


_LDH_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# The everyday shape (dot-atom local part, plain host name) in one regex without overlap.
_PLAIN_MAILBOX = re.compile(
    f"(?=[^@]{{1,64}}@)[{_ATEXT}]+(?:\\.[{_ATEXT}]+)*@{_LDH_LABEL}(?:\\.{_LDH_LABEL})*"
)


def is_email(value: str) -> bool:
    """Check an RFC 5321 mailbox: dot-atom or quoted local part, ``@``, domain or IP literal.

    The domain is a host name without trailing dot, ``[`` IPv4 ``]`` or ``[IPv6:`` IPv6 ``]``.
    At most 254 characters in all and 64 in the local part.
    """
    if len(value) <= 254 and _PLAIN_MAILBOX.fullmatch(value) is not None:
        return True
    return _is_mailbox(value, idn=False)


def is_idn_email(value: str) -> bool:
    """Check an RFC 6531 mailbox: like ``email``, with UTF-8 text and an IDNA2008 domain.

    The length limits of ``email`` count UTF-8 octets.
    """
    return _is_mailbox(value, idn=True)


# --- URIs, IRIs and URI templates (RFC 3986, RFC 3987, RFC 6570) ------------------------------

_UCSCHAR = "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef" + "".join(
    f"{chr(plane << 16)}-{chr((plane << 16) + 0xFFFD)}" for plane in range(1, 14)
)
_UCSCHAR += "\U000e1000-\U000efffd"
_IPRIVATE = "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
_SUB_DELIMS = r"A-Za-z0-9\-._~!$&'()*+,;="  # unreserved and sub-delims
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_PORT = re.compile(r"(?::[0-9]*)?")
_IPV_FUTURE = re.compile(rf"[Vv][0-9A-Fa-f]+\.[{_SUB_DELIMS}:]+")


def _invalid_text(allowed: str) -> re.Pattern[str]:
    # Finds the first character outside `allowed` or `%` not followed by two hex digits.
    return re.compile(f"[^{allowed}%]|%(?![0-9A-Fa-f]{{2}})")


_URI_PARTS = {
    iri: {
        "userinfo": _invalid_text(_SUB_DELIMS + ":" + ucs),
        "host": _invalid_text(_SUB_DELIMS + ucs),
        "path": _invalid_text(_SUB_DELIMS + ":@/" + ucs),
        "query": _invalid_text(_SUB_DELIMS + ":@/?" + ucs + (_IPRIVATE if iri else "")),
        "fragment": _invalid_text(_SUB_DELIMS + ":@/?" + ucs),
    }
    for iri, ucs in ((False, ""), (True, _UCSCHAR))
}


def _is_uri(value: str, iri: bool, absolute: bool) -> bool:
    # Splits as RFC 3986 appendix B does, then checks the characters of each component.
    parts = _URI_PARTS[iri]
    rest, _, fragment = value.partition("#")
    rest, _, query = rest.partition("?")
    colon, slash = rest.find(":"), rest.find("/")
    if colon >= 0 and (slash < 0 or colon < slash):
        if not _SCHEME.fullmatch(rest, 0, colon):
            return False  # a relative reference may not have a colon in its first segment
        rest = rest[colon + 1 :]
    elif absolute:
        return False
    path = rest
    if rest[:2] == "//":
        authority, slash_sep, path = rest[2:].partition("/")
        if not _is_authority(authority, parts):
            return False
        path = slash_sep + path
    invalid = parts["path"].search(path) or parts["query"].search(query)
    return not (invalid or parts["fragment"].search(fragment))


def _is_authority(authority: str, parts: dict[str, re.Pattern[str]]) -> bool:
    userinfo, at, host = authority.rpartition("@")
    if at and parts["userinfo"].search(userinfo):
        return False
    if host[:1] == "[":
        host, bracket, port = host[1:].partition("]")
        if not bracket or not (is_ipv6(host) or _IPV_FUTURE.fullmatch(host)):
            return False
    else:
        host, colon, port = host.partition(":")
        port = colon + port
        if parts["host"].search(host):
            return False
    return _PORT.fullmatch(port) is not None


def is_uri(value: str) -> bool:
    """Check an RFC 3986 ``URI``: a scheme, then hierarchical part, query and fragment."""
    return _is_uri(value, iri=False, absolute=True)


def is_uri_reference(value: str) -> bool:
    """Check an RFC 3986 ``URI-reference``: a URI or a relative reference."""
    return _is_uri(value, iri=False, absolute=False)


def is_iri(value: str) -> bool:
    """Check an RFC 3987 ``IRI``: a URI that may also hold non-ASCII ``ucschar`` characters."""
    return _is_uri(value, iri=True, absolute=True)


def is_iri_reference(value: str) -> bool:
    """Check an RFC 3987 ``IRI-reference``: an IRI or a relative IRI reference."""
    return _is_uri(value, iri=True, absolute=False)


_TEMPLATE_LITERALS = _invalid_text(r"!#$&(-;=?-\[\]_a-z~" + _UCSCHAR + _IPRIVATE)
_VARCHAR = "(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})"
_VARSPEC = rf"{_VARCHAR}(?:\.?{_VARCHAR})*(?::[1-9][0-9]{{0,3}}|\*)?"
_TEMPLATE_EXPRESSION = re.compile(rf"[+#./;?&]?{_VARSPEC}(?:,{_VARSPEC})*")


def is_uri_template(value: str) -> bool:
    """Check RFC 6570 ``URI-Template`` syntax up to level 4: literals and ``{...}`` expressions.

    The operators reserved for future extensions (``= , ! @ |``) are rejected.
    """
    position = 0
    while True:
        start = value.find("{", position)
        if _TEMPLATE_LITERALS.search(value, position, len(value) if start < 0 else start):
            return False
        if start < 0:
            return True
        end = value.find("}", start)
        if end < 0 or not _TEMPLATE_EXPRESSION.fullmatch(value, start + 1, end):
            return False
        position = end + 1


# --- JSON pointers, regular expressions and UUIDs --------------------------------------------

_BAD_ESCAPE = re.compile(r"~(?![01])")
_POINTER_PREFIX = re.compile(r"0|[1-9][0-9]*")
_NESTED_SET_HINT = re.compile(r"\[\[|--|&&|~~|\|\|")
_REGEX_MAX_LENGTH = 10_000
_UUID = re.compile(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}")


def is_json_pointer(value: str) -> bool:
    """Check an RFC 6901 JSON Pointer: empty, or ``/`` segments with ``~`` only in ``~0``/``~1``."""
    return value[:1] in {"", "/"} and _BAD_ESCAPE.search(value) is None


def is_relative_json_pointer(value: str) -> bool:
    """Check a relative JSON Pointer (draft-handrews-relative-json-pointer-01).

    A non-negative integer without leading zeros, then ``#`` or a JSON Pointer.
    """
    match = _POINTER_PREFIX.match(value)
    if match is None:
        return False
    rest = value[match.end() :]
    return rest == "#" or is_json_pointer(rest)


def is_regex(value: str) -> bool:
    """Check that Python ``re`` compiles the pattern (JSON Schema means ECMA-262; close enough).

    Capped at 10,000 characters, which bounds the compile time; this cap is Djed's own.
    Patterns nested too deeply for Python's parser (``RecursionError``) count as invalid.
    """
    if len(value) > _REGEX_MAX_LENGTH:
        return False
    try:
        if _NESTED_SET_HINT.search(value) is None:
            re.compile(value)
        else:
            # The warning filter is process-wide before Python 3.14, so it is swapped only for
            # the patterns that can warn about future set syntax.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                re.compile(value)
    except (re.error, RecursionError, OverflowError, ValueError):
        return False
    return True


def is_uuid(value: str) -> bool:
    """Check an RFC 4122 UUID in 8-4-4-4-12 hex digit form, any version, either case."""
    return _UUID.fullmatch(value) is not None


FORMAT_CHECKERS: dict[str, Callable[[str], bool]] = {
    "date": is_date,
    "date-time": is_date_time,
    "duration": is_duration,
    "email": is_email,
    "hostname": is_hostname,
    "idn-email": is_idn_email,
    "idn-hostname": is_idn_hostname,
    "ipv4": is_ipv4,
    "ipv6": is_ipv6,
    "iri": is_iri,
    "iri-reference": is_iri_reference,
    "json-pointer": is_json_pointer,
    "regex": is_regex,
    "relative-json-pointer": is_relative_json_pointer,
    "time": is_time,
    "uri": is_uri,
    "uri-reference": is_uri_reference,
    "uri-template": is_uri_template,
    "uuid": is_uuid,
}
