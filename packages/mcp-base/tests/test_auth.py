"""Authentication, zero-trust authorization and rate limits, over real HTTP and in process."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from djed.mcp_base import (
    FORBIDDEN,
    RATE_LIMITED,
    Authorizer,
    BurstRule,
    Policy,
    Rate,
    build_app,
    create_server,
    current_subject,
)
from djed.mcp_base.testing import MODES, connect, connect_http, serve
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import ErrorData

TOKENS = {
    "alice-token": AccessToken(
        token="alice-token",
        client_id="crm-web",
        scopes=["invoices:read", "invoices:write"],
        subject="alice",
        claims={"roles": ["billing"], "tenant": "acme"},
    ),
    "bob-token": AccessToken(token="bob-token", client_id="crm-web", scopes=[], subject="bob"),
    "robot-token": AccessToken(token="robot-token", client_id="robot", scopes=["invoices:read"]),
}

POLICIES = [
    Policy("tools/get_invoice", require_scopes="invoices:read", name="readers"),
    Policy("tools/whoami", name="anyone-signed-in"),
    Policy("tools/void_*", roles="billing", require_scopes="invoices:write", name="billing"),
    Policy("tools/void_*", when=lambda s, a: a.get("number") == "INV-0000", effect="deny"),
]


class Verifier:
    """A token verifier over a fixed table, as an introspection endpoint would answer."""

    async def verify_token(self, token: str) -> AccessToken | None:
        return TOKENS.get(token)


def auth_settings() -> AuthSettings:
    return AuthSettings(
        issuer_url="https://auth.example.com",  # type: ignore[arg-type]
        resource_server_url=None,
    )


def add_tools(server: MCPServer) -> MCPServer:
    @server.tool()
    def get_invoice(number: str) -> dict[str, str]:
        """An invoice by number."""
        return {"number": number}

    @server.tool()
    def void_invoice(number: str) -> str:
        """Void an invoice."""
        return f"voided {number}"

    @server.tool()
    def whoami() -> dict[str, Any]:
        """Who the server thinks is calling."""
        subject = current_subject()
        if subject is None:
            return {"id": None}
        return {"id": subject.id, "scopes": sorted(subject.scopes), "roles": sorted(subject.roles)}

    @server.tool()
    def delete_everything() -> str:
        """No policy covers this one."""
        return "gone"

    return server


@pytest.fixture(scope="module")
def auth_url() -> Iterator[str]:
    server = add_tools(
        create_server(
            "invoices",
            version="1.0.0",
            token_verifier=Verifier(),
            auth=auth_settings(),
            policies=POLICIES,
        )
    )
    with serve(build_app(server, allowed_hosts=["127.0.0.1:*"])) as url:
        yield url


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refusal(url: str, token: str, tool: str, arguments: dict[str, Any]) -> ErrorData:
    """The error a call by ``token`` gets (the test fails if the call succeeds)."""
    async with connect_http(url, headers=bearer(token)) as client:
        with pytest.raises(MCPError) as info:
            await client.call_tool(tool, arguments)
    return info.value.error


def text_of(result: Any) -> str:
    return str(getattr(result.content[0], "text", ""))


class TestAuthentication:
    def test_no_token_is_401_with_www_authenticate(self, auth_url: str) -> None:
        """Without a token the SDK's bearer check answers 401 and says how to authenticate."""
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        response = httpx.post(f"{auth_url}/mcp", json=body)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer ")
        assert response.json()["error"] == "invalid_token"

    def test_unknown_token_is_401(self, auth_url: str) -> None:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        response = httpx.post(f"{auth_url}/mcp", json=body, headers=bearer("forged"))
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]

    def test_probes_stay_outside_auth(self, auth_url: str) -> None:
        assert httpx.get(f"{auth_url}/healthz").status_code == 200
        assert httpx.get(f"{auth_url}/readyz").status_code == 200


class TestAuthorization:
    @pytest.mark.asyncio
    @pytest.mark.parametrize("mode", MODES)
    async def test_subject_and_scopes_inside_tools(self, auth_url: str, mode: str) -> None:
        """A tool sees the verified subject: id, scopes, and roles from the token's claims."""
        async with connect_http(auth_url, headers=bearer("alice-token"), mode=mode) as client:
            result = await client.call_tool("whoami", {})
        assert result.structured_content == {
            "id": "alice",
            "scopes": ["invoices:read", "invoices:write"],
            "roles": ["billing"],
        }

    @pytest.mark.asyncio
    async def test_allowed_by_policy(self, auth_url: str) -> None:
        async with connect_http(auth_url, headers=bearer("robot-token")) as client:
            result = await client.call_tool("get_invoice", {"number": "INV-0001"})
        assert result.structured_content == {"number": "INV-0001"}

    @pytest.mark.asyncio
    async def test_missing_scope_is_forbidden_with_reason(
        self, auth_url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A refusal names the target and what was missing; the audit log has the decision."""
        with caplog.at_level(logging.INFO, logger="djed.mcp_base.audit"):
            error = await refusal(auth_url, "bob-token", "get_invoice", {"number": "INV-0001"})
        assert error.code == FORBIDDEN
        assert "tools/get_invoice" in error.message
        assert "missing scopes: invoices:read" in error.message
        assert error.data == {"rule": "default-deny", "requires_reauth": False}
        denials = [r for r in caplog.records if r.name == "djed.mcp_base.audit"]
        assert any(
            getattr(r, "subject", None) == "bob"
            and getattr(r, "target", None) == "tools/get_invoice"
            and getattr(r, "decision", None) == "deny"
            for r in denials
        )

    @pytest.mark.asyncio
    async def test_deny_by_default(self, auth_url: str) -> None:
        """A tool no policy mentions is refused even to the best-equipped subject."""
        error = await refusal(auth_url, "alice-token", "delete_everything", {})
        assert error.code == FORBIDDEN
        assert "no policy allows 'tools/delete_everything'" in error.message

    @pytest.mark.asyncio
    async def test_deny_policy_on_arguments_wins(
        self, auth_url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Roles and scopes allow voiding, except the invoice a deny rule protects."""
        with caplog.at_level(logging.INFO, logger="djed.mcp_base.audit"):
            async with connect_http(auth_url, headers=bearer("alice-token")) as client:
                ok = await client.call_tool("void_invoice", {"number": "INV-0042"})
                with pytest.raises(MCPError) as info:
                    await client.call_tool("void_invoice", {"number": "INV-0000"})
        assert text_of(ok) == "voided INV-0042"
        assert info.value.error.code == FORBIDDEN
        assert "deny tools/void_*" in info.value.error.message
        rules = [
            (getattr(r, "decision", None), getattr(r, "rule", None))
            for r in caplog.records
            if getattr(r, "target", None) == "tools/void_invoice"
        ]
        assert ("allow", "billing") in rules
        assert ("deny", "deny tools/void_*") in rules


class TestRateLimit:
    @pytest.mark.asyncio
    async def test_flood_from_one_token_is_refused_others_served(self) -> None:
        """One token past its burst gets RATE_LIMITED with retry_after; another token is fine."""
        server = create_server(
            "invoices",
            token_verifier=Verifier(),
            auth=auth_settings(),
            policies=POLICIES,
            rate_limit=Rate(per_second=0.5, burst=8),
        )
        with serve(build_app(add_tools(server), allowed_hosts=["127.0.0.1:*"])) as url:
            await self.flood(url)

    async def flood(self, auth_url: str) -> None:
        async with connect_http(auth_url, headers=bearer("robot-token")) as client:
            codes: list[int] = []
            for _ in range(12):
                try:
                    await client.call_tool("get_invoice", {"number": "INV-0001"})
                    codes.append(0)
                except MCPError as error:
                    codes.append(error.error.code)
                    last = error.error
        assert 0 < codes.count(RATE_LIMITED) < 12
        assert set(codes) == {0, RATE_LIMITED}
        assert last.data is not None
        assert last.data["retry_after"] > 0
        assert last.data["rule"] == "default"
        assert "retry after" in last.message
        async with connect_http(auth_url, headers=bearer("alice-token")) as other:
            result = await other.call_tool("whoami", {})
        assert result.structured_content is not None
        assert result.structured_content["id"] == "alice"

    @pytest.mark.asyncio
    async def test_anonymous_clients_are_limited_by_address(self) -> None:
        """Without auth, opening a new session does not refill the bucket of the same address."""
        server = add_tools(create_server("x", rate_limit=Rate(per_second=0.01, burst=6)))
        allowed, refused = 0, []
        with serve(build_app(server, allowed_hosts=["127.0.0.1:*"])) as url:
            for _ in range(3):
                try:
                    async with connect_http(url, mode="legacy") as client:
                        await client.call_tool("whoami", {})
                        allowed += 1
                        await client.call_tool("whoami", {})
                        allowed += 1
                except MCPError as error:
                    refused.append(error.error)
                except ExceptionGroup as group:  # refused during the handshake
                    refused.extend(_flatten(group))
        assert refused
        assert {error.code for error in refused} == {RATE_LIMITED}
        # Six tokens for the address: the handshakes take some, the calls the rest.
        assert 0 < allowed < 6


def _flatten(group: BaseExceptionGroup[BaseException]) -> list[ErrorData]:
    """The MCP errors inside nested exception groups."""
    found: list[ErrorData] = []
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            found.extend(_flatten(error))
        elif isinstance(error, MCPError):
            found.append(error.error)
    return found


class TestInProcess:
    @pytest.mark.asyncio
    @pytest.mark.parametrize("mode", MODES)
    async def test_without_a_token_only_anonymous_policies_allow(self, mode: str) -> None:
        """Over stdio there is no token: zero trust still holds, anonymous=True opens a door."""
        policies = [Policy("tools/whoami", anonymous=True), Policy("tools/get_invoice")]
        server = add_tools(create_server("x", policies=policies))
        async with connect(server, mode) as client:
            assert (await client.call_tool("whoami", {})).structured_content == {"id": None}
            with pytest.raises(MCPError) as info:
                await client.call_tool("get_invoice", {"number": "1"})
        assert info.value.error.code == FORBIDDEN
        assert "needs an authenticated subject" in info.value.error.message

    @pytest.mark.asyncio
    async def test_burst_rule_asks_for_fresh_auth(self) -> None:
        """A subject far above its own baseline is refused with requires_reauth."""
        now = [0.0]
        authorizer = Authorizer(
            [Policy("tools/*")],
            burst_rule=BurstRule(window=1, factor=3, min_requests=5, action="reauth"),
            clock=lambda: now[0],
        )
        server = create_server(
            "x", authorizer=authorizer, token_verifier=Verifier(), auth=auth_settings()
        )
        add_tools(server)
        with serve(build_app(server, allowed_hosts=["127.0.0.1:*"])) as url:
            async with connect_http(url, headers=bearer("alice-token")) as client:
                for second in range(4):  # the baseline: one call a second
                    now[0] = float(second)
                    await client.call_tool("whoami", {})
                now[0] = 4.0
                refused = []
                for _ in range(10):  # then ten within the same second
                    try:
                        await client.call_tool("whoami", {})
                    except MCPError as error:
                        refused.append(error.error)
        assert refused
        assert {e.code for e in refused} == {FORBIDDEN}
        assert refused[0].data == {"rule": "burst", "requires_reauth": True}

    def test_contradictory_settings_are_refused(self) -> None:
        with pytest.raises(ValueError, match="not both"):
            create_server("x", policies=[], authorizer=Authorizer([]))
        with pytest.raises(ValueError, match="token_verifier and auth go together"):
            create_server("x", token_verifier=Verifier())

    def test_auth_without_policies_warns_and_denies(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.WARNING, logger="djed.mcp_base"):
            create_server("x", token_verifier=Verifier(), auth=auth_settings())
        assert "every tool, prompt and resource will be refused" in caplog.text
