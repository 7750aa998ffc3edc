from __future__ import annotations

import os
import pty
import subprocess
import sys

import orjson


def clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DJED_LOGGER_") and k not in {"NO_COLOR", "FORCE_COLOR"}
    }


class TestDemo:
    def test_piped_output_is_json_lines(self) -> None:
        """`python -m djed.logger demo | cat` prints one JSON object per line."""
        result = subprocess.run(
            [sys.executable, "-m", "djed.logger", "demo"],
            capture_output=True,
            check=False,
            timeout=60,
            env=clean_env(),
        )
        assert result.returncode == 0, result.stderr
        events = [orjson.loads(line) for line in result.stdout.splitlines()]
        assert len(events) == 6
        assert {e["service"] for e in events} == {"invoices-api"}
        assert events[2]["password"] == "[REDACTED]"
        assert events[3]["logger"] == "uvicorn.access"
        assert events[5]["exception"][0]["exc_type"] == "KeyError"

    def test_terminal_output_is_pretty(self) -> None:
        """On a terminal the demo prints coloured console lines, not JSON."""
        leader, follower = pty.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "djed.logger", "demo"],
            stdout=follower,
            stderr=follower,
            env=clean_env(),
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(leader)
        assert process.wait(timeout=60) == 0
        text = b"".join(chunks).decode()
        assert "service started" in text
        assert "\x1b[" in text  # ANSI colours
        assert not any(line.startswith('{"') for line in text.splitlines())
        assert "Traceback" in text  # the demo's exception, shown readably
        assert "KeyError" in text
