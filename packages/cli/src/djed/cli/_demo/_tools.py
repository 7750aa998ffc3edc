"""The MCP face of the demo: agents read and edit the same live invoices as people do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from djed.mcp_base import create_server
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from ._invoices import InvoiceError

if TYPE_CHECKING:
    from ._app import Demo

__all__ = ["register_tools"]

_LINE_SCHEMA = {
    "type": "object",
    "properties": {
        "invoice_id": {"type": "string", "pattern": "^[0-9]{1,9}$"},
        "description": {"type": "string", "minLength": 1, "maxLength": 500},
        "quantity": {"type": "string", "pattern": "^[0-9]{1,6}([.][0-9]{1,3})?$"},
        "unit_price": {"type": "string", "pattern": "^[0-9]{1,9}([.][0-9]{1,2})?$"},
    },
    "required": ["invoice_id", "description", "quantity", "unit_price"],
}


def register_tools(demo: Demo) -> MCPServer:
    """An MCP server whose tools work on ``demo``'s invoices."""
    server = create_server(
        "djed-demo-invoices",
        version="1.0.0",
        instructions=(
            "Invoices of a small business, edited live by people in their browsers. Amounts"
            " are decimal strings in the invoice's currency (e.g. '120.00'); quantities too."
        ),
        tool_schemas={"add_line_item": _LINE_SCHEMA},
    )

    async def guarded(work: Any) -> Any:
        try:
            return await work
        except InvoiceError as error:
            raise ToolError(str(error)) from None

    @server.tool()
    async def list_invoices() -> list[dict[str, Any]]:
        """Every invoice: id, number, customer, status, delivery and total."""
        return await demo.invoices()

    @server.tool()
    async def get_invoice(invoice_id: str) -> dict[str, Any]:
        """One invoice with its lines, notes and totals."""
        result: dict[str, Any] = await guarded(demo.invoice(invoice_id))
        return result

    @server.tool()
    async def create_invoice(customer: str) -> dict[str, Any]:
        """A new draft invoice for ``customer``, dated today and due in 30 days."""
        identifier = await demo.create(customer)
        result: dict[str, Any] = await guarded(demo.invoice(identifier))
        return result

    @server.tool()
    async def add_line_item(
        invoice_id: str, description: str, quantity: str, unit_price: str
    ) -> dict[str, Any]:
        """Add a line; quantity and unit_price are decimal strings ('2', '120.00')."""
        await guarded(demo.add_line(invoice_id, description, quantity, unit_price))
        result: dict[str, Any] = await guarded(demo.invoice(invoice_id))
        return result

    @server.tool()
    async def set_status(
        invoice_id: str, status: Literal["draft", "sent", "paid", "void"]
    ) -> dict[str, Any]:
        """Set the invoice's status."""
        await guarded(demo.set_status(invoice_id, status))
        result: dict[str, Any] = await guarded(demo.invoice(invoice_id))
        return result

    @server.tool()
    async def send_invoice(invoice_id: str) -> dict[str, str]:
        """Charge and e-mail the invoice through the gateway; queued if the gateway is down."""
        result: dict[str, str] = await guarded(demo.send(invoice_id))
        return result

    return server
