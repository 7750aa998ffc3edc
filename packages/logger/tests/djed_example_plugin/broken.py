"""Every group has an entry pointing here: importing this module fails, on purpose."""

from __future__ import annotations

raise ImportError("the example plugin's broken module cannot be imported (on purpose)")
