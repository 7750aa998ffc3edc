from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from djed.logger import DEFAULT_REDACT_KEYS, REDACTED, get_logger
from djed.logger._redact import Redactor
from hypothesis import given
from hypothesis import strategies as st

from .conftest import Output

VISA_TEST_CARD = "4111 1111 1111 1111"  # a well-known Luhn-valid test number


def luhn_complete(prefix: str) -> str:
    """The check digit that makes prefix + digit pass the Luhn test."""
    for digit in "0123456789":
        candidate = prefix + digit
        total = 0
        for position, char in enumerate(reversed(candidate)):
            value = int(char) * (2 if position % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


class TestSecretKeys:
    @pytest.mark.parametrize(
        "key",
        [
            "password",
            "db_password",
            "PASSWORD",
            "X-Api-Key",
            "apiKey",
            "accessToken",
            "refresh_token",
            "Authorization",
            "Set-Cookie",
            "client_secret",
            "private_key",
        ],
    )
    def test_secret_names_are_redacted(self, json_logging: Callable[..., Output], key: str) -> None:
        """Field names containing a secret word are redacted whatever their case or separators."""
        output = json_logging()
        get_logger("x").info("login", **{key: "s3cr3t"})
        assert output.events()[0][key] == REDACTED

    @pytest.mark.parametrize("key", ["max_tokens", "tokenizer", "monkey", "user", "keyboard"])
    def test_ordinary_names_are_kept(self, json_logging: Callable[..., Output], key: str) -> None:
        """Words that merely contain a secret word are not redacted."""
        output = json_logging()
        get_logger("x").info("call", **{key: "visible"})
        assert output.events()[0][key] == "visible"

    def test_nested_secrets(self, json_logging: Callable[..., Output]) -> None:
        """Secret fields inside dicts and lists are redacted too."""
        output = json_logging()
        get_logger("x").info(
            "request",
            headers={"Authorization": "Basic dXNlcjpwYXNz", "Accept": "json"},
            users=[{"name": "ada", "password": "pw"}],
        )
        event = output.events()[0]
        assert event["headers"] == {"Authorization": REDACTED, "Accept": "json"}
        assert event["users"] == [{"name": "ada", "password": REDACTED}]

    def test_configurable_keys(self, json_logging: Callable[..., Output]) -> None:
        """redact_keys replaces the default list."""
        output = json_logging(redact_keys=["ssn"])
        get_logger("x").info("kyc", ssn="123-45-6789", password="now visible")
        event = output.events()[0]
        assert event["ssn"] == REDACTED
        assert event["password"] == "now visible"

    def test_environment_extends_defaults(
        self, json_logging: Callable[..., Output], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """DJED_LOGGER_REDACT_KEYS=+name adds to the defaults."""
        monkeypatch.setenv("DJED_LOGGER_REDACT_KEYS", "+ssn, pin")
        output = json_logging()
        get_logger("x").info("kyc", ssn="1", pin="2", password="3", name="ada")
        event = output.events()[0]
        assert (event["ssn"], event["pin"], event["password"]) == (REDACTED,) * 3
        assert event["name"] == "ada"

    def test_redaction_can_be_turned_off(self, json_logging: Callable[..., Output]) -> None:
        """redact=False leaves every value as it is."""
        output = json_logging(redact=False)
        get_logger("x").info("debugging", password="pw")
        assert output.events()[0]["password"] == "pw"

    def test_defaults_cover_the_documented_names(self) -> None:
        """The default list holds the names the README promises."""
        for name in ("password", "token", "secret", "authorization", "api_key", "cookie"):
            assert name in DEFAULT_REDACT_KEYS


class TestSecretValues:
    def test_bearer_token_in_message_and_fields(self, json_logging: Callable[..., Output]) -> None:
        """Bearer tokens are cut from the message and from any string field."""
        output = json_logging()
        get_logger("x").info("sent Bearer abc.DEF-123", header="bearer xyz789==")
        event = output.events()[0]
        assert event["event"] == f"sent Bearer {REDACTED}"
        assert event["header"] == f"bearer {REDACTED}"

    def test_jwt(self, json_logging: Callable[..., Output]) -> None:
        """A JSON Web Token anywhere in a value is redacted."""
        token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl"
        output = json_logging()
        get_logger("x").info("verify", note=f"got {token} from client")
        assert output.events()[0]["note"] == f"got {REDACTED} from client"

    @pytest.mark.parametrize(
        "card", [VISA_TEST_CARD, "4111-1111-1111-1111", "4111111111111111", "378282246310005"]
    )
    def test_card_numbers(self, json_logging: Callable[..., Output], card: str) -> None:
        """Luhn-valid card numbers, with or without separators, are redacted."""
        output = json_logging()
        get_logger("x").info("payment", detail=f"card {card} charged")
        assert output.events()[0]["detail"] == f"card {REDACTED} charged"

    def test_card_number_as_integer(self, json_logging: Callable[..., Output]) -> None:
        """A card number logged as an int is redacted as well."""
        output = json_logging()
        get_logger("x").info("payment", pan=4111111111111111)
        assert output.events()[0]["pan"] == REDACTED

    def test_non_luhn_numbers_are_kept(self, json_logging: Callable[..., Output]) -> None:
        """Long numbers that fail the Luhn test (order ids, epochs) stay."""
        output = json_logging()
        get_logger("x").info("order", order="4111 1111 1111 1112", epoch_ms=1764115338001)
        event = output.events()[0]
        assert event["order"] == "4111 1111 1111 1112"
        assert event["epoch_ms"] == 1764115338001

    def test_email_masking_is_opt_in(self, json_logging: Callable[..., Output]) -> None:
        """Emails stay by default and are masked with mask_emails=True."""
        output = json_logging(mask_emails=True)
        get_logger("x").info("signup", email="jane.doe@example.com")
        assert output.events()[0]["email"] == "j***@example.com"

    def test_email_kept_by_default(self, json_logging: Callable[..., Output]) -> None:
        """Without mask_emails an address is logged as it is."""
        output = json_logging()
        get_logger("x").info("signup", email="jane.doe@example.com")
        assert output.events()[0]["email"] == "jane.doe@example.com"


class TestRedactorProperties:
    @given(prefix=st.text(max_size=20), digits=st.text("0123456789", min_size=15, max_size=15))
    def test_any_valid_card_in_text_is_hidden(self, prefix: str, digits: str) -> None:
        """A Luhn-valid 16-digit number surrounded by spaces never survives scrubbing."""
        card = luhn_complete(digits)
        text = f"{prefix} {card} end"
        assert card not in Redactor().scrub_text(text)

    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
            lambda children: st.lists(children) | st.dictionaries(st.text(), children),
            max_leaves=30,
        )
    )
    def test_scrub_never_raises(self, value: Any) -> None:
        """Scrubbing arbitrary nested data never raises and keeps the keys."""
        event = {"event": "x", "value": value}
        scrubbed = Redactor(mask_emails=True).scrub(dict(event))
        assert set(scrubbed) == set(event)
