from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import fastjsonschema
import pytest
from djed.validator import SchemaError, compile_to_source

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["email", "qty"],
    "properties": {
        "email": {"type": "string", "format": "email"},
        "qty": {"type": "integer", "minimum": 1},
        "code": {"type": "string", "pattern": "^.*-.*$"},
        "lines": {"type": "array", "items": {"$ref": "#/definitions/line"}},
    },
    "definitions": {"line": {"type": "object", "required": ["sku"]}},
}


def write(path: pathlib.Path, value: Any) -> str:
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "djed.validator", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        input=stdin,
    )


class TestCheckCommand:
    def test_valid_and_invalid_files(self, tmp_path: pathlib.Path) -> None:
        """check prints one verdict per file and exits 1 if any is invalid."""
        schema = write(tmp_path / "schema.json", SCHEMA)
        good = write(tmp_path / "good.json", {"email": "a@example.com", "qty": 2})
        bad = write(tmp_path / "bad.json", {"email": "a@example.com", "qty": 0})
        result = run("check", schema, good, bad)
        assert result.returncode == 1
        assert f"{good}: valid" in result.stdout
        assert f"{bad}: invalid" in result.stdout
        assert "/qty: must be bigger than or equal to 1  [minimum]" in result.stdout

    def test_exit_zero_when_all_valid(self, tmp_path: pathlib.Path) -> None:
        """All valid files give exit status 0."""
        schema = write(tmp_path / "schema.json", SCHEMA)
        good = write(tmp_path / "good.json", {"email": "a@example.com", "qty": 2})
        assert run("check", schema, good).returncode == 0

    def test_json_output_and_all_errors(self, tmp_path: pathlib.Path) -> None:
        """--json --all-errors prints machine-readable results with every error."""
        schema = write(tmp_path / "schema.json", SCHEMA)
        bad = write(tmp_path / "bad.json", {"email": "nope", "qty": 0})
        result = run("check", schema, bad, "--json", "--all-errors")
        line = json.loads(result.stdout)
        assert line["valid"] is False
        assert {e["path"] for e in line["errors"]} == {"/email", "/qty"}

    def test_bad_schema(self, tmp_path: pathlib.Path) -> None:
        """A bad schema exits 2 with one line naming the problem and its place."""
        schema = write(tmp_path / "schema.json", {"properties": {"a": {"minimum": "x"}}})
        data = write(tmp_path / "d.json", {})
        result = run("check", schema, data)
        assert result.returncode == 2
        assert result.stderr.startswith("error: minimum must be a number")
        assert "/properties/a/minimum" in result.stderr
        assert "Traceback" not in result.stderr

    @pytest.mark.parametrize(
        ("content", "message"),
        [("{", "is not JSON: Expecting property name"), (None, "cannot read")],
    )
    def test_unreadable_data(
        self, tmp_path: pathlib.Path, content: str | None, message: str
    ) -> None:
        """Missing files and broken JSON exit 2 naming the file."""
        schema = write(tmp_path / "schema.json", SCHEMA)
        data = tmp_path / "data.json"
        if content is not None:
            data.write_text(content)
        result = run("check", schema, str(data))
        assert result.returncode == 2
        assert message in result.stderr
        assert "Traceback" not in result.stderr

    def test_schema_from_stdin(self, tmp_path: pathlib.Path) -> None:
        """The schema may come from standard input as '-'."""
        data = write(tmp_path / "d.json", 3)
        result = run("check", "-", data, stdin=json.dumps({"type": "integer"}))
        assert result.returncode == 0, result.stderr


def fastjsonschema_only_path(tmp_path: pathlib.Path) -> str:
    """A folder holding fastjsonschema and nothing else, for an interpreter run with -S."""
    folder = tmp_path / "only-fastjsonschema"
    folder.mkdir()
    (folder / "fastjsonschema").symlink_to(pathlib.Path(fastjsonschema.__file__).parent)
    return str(folder)


class TestCompile:
    def test_module_runs_with_only_fastjsonschema(self, tmp_path: pathlib.Path) -> None:
        """The written module imports and validates with fastjsonschema alone on the path."""
        schema = write(tmp_path / "schema.json", SCHEMA)
        module = tmp_path / "invoice_validator.py"
        result = run("compile", schema, "-o", str(module))
        assert result.returncode == 0, result.stderr
        script = (
            "import sys, invoice_validator as m\n"
            "assert not any(name.startswith('djed') for name in sys.modules)\n"
            "m.validate({'email': 'a@example.com', 'qty': 1, 'lines': [{'sku': 'x'}]})\n"
            "bad_lines = {'email': 'a@b.co', 'qty': 1, 'lines': [{}]}\n"
            "for bad in ({'email': 'nope', 'qty': 1}, bad_lines):\n"
            "    try:\n"
            "        m.validate(bad)\n"
            "    except m.JsonSchemaValueException as exc:\n"
            "        print(exc.name, exc.rule)\n"
            "    else:\n"
            "        raise SystemExit('accepted bad data')\n"
            "try:\n"
            "    m.validate({'email': 'a@b.co', 'qty': 1, 'code': 'x' * 20000})\n"
            "except Exception as exc:\n"
            "    print(type(exc).__name__)\n"
        )
        env = {"PYTHONPATH": os.pathsep.join([fastjsonschema_only_path(tmp_path), str(tmp_path)])}
        child = subprocess.run(
            [sys.executable, "-S", "-c", script],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env=env,
        )
        assert child.returncode == 0, child.stderr
        assert child.stdout.splitlines() == [
            "data.email format",
            "data.lines[0] required",
            "PatternInputTooLong",
        ]

    def test_compile_to_source_matches_the_validator(self, tmp_path: pathlib.Path) -> None:
        """The module and SchemaValidator agree on a set of instances."""
        from djed.validator import SchemaValidator

        path = tmp_path / "gen_mod.py"
        path.write_text(compile_to_source(SCHEMA, function_name="check_invoice"))
        spec = importlib.util.spec_from_file_location("gen_mod", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        validator = SchemaValidator(SCHEMA)
        for instance in (
            {"email": "a@example.com", "qty": 1},
            {"email": "a@example.com", "qty": 0},
            {"email": "bad", "qty": 1},
            {"qty": 1},
            {"email": "a@example.com", "qty": 1, "lines": [{"sku": 1}, {}]},
        ):
            try:
                module.check_invoice(instance)
                module_ok = True
            except fastjsonschema.JsonSchemaException:
                module_ok = False
            assert module_ok is validator.is_valid(instance), instance

    def test_later_drafts_cannot_be_compiled(self) -> None:
        """A 2020-12 schema cannot be written out (it needs the rs engine)."""
        with pytest.raises(SchemaError, match="does not implement draft 2020-12"):
            compile_to_source({"$schema": "https://json-schema.org/draft/2020-12/schema"})

    def test_bad_function_name(self) -> None:
        """The function name must be an identifier."""
        with pytest.raises(SchemaError, match="identifier"):
            compile_to_source({}, function_name="not valid")

    def test_cli_writes_to_stdout(self, tmp_path: pathlib.Path) -> None:
        """Without -o the module goes to standard output."""
        schema = write(tmp_path / "schema.json", {"type": "integer"})
        result = run("compile", schema)
        assert result.returncode == 0
        compile(result.stdout, "generated", "exec")
        assert "def validate(data, custom_formats=None, name_prefix=None):" in result.stdout
