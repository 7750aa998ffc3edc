"""The official JSON Schema Test Suite, fetched once from PyPI and cached.

The suite ships inside the source distribution of the `jsonschema` project
(folder ``json/``). It is downloaded from the package index, checked against a
pinned SHA-256 and unpacked into a cache folder; nothing of it is stored in
this repository.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import tarfile
import urllib.request
from collections.abc import Iterator
from typing import Any

SDIST = "jsonschema-4.26.0.tar.gz"
SDIST_URL = (
    "https://files.pythonhosted.org/packages/b3/fc/"
    "e067678238fa451312d4c62bf6e6cf5ec56375422aee02f9cb5f909b3047/" + SDIST
)
SDIST_SHA256 = "0c26707e2efad8aa1bfc5b7ce170f3fccc2e4918ff85989ba9ffa9facb2be326"
REMOTES_BASE = "http://localhost:1234/"


def cache_dir() -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(pathlib.Path.home() / ".cache")
    return pathlib.Path(base) / "djed" / "json-schema-test-suite" / SDIST.removesuffix(".tar.gz")


def suite_root() -> pathlib.Path:
    """The unpacked ``json/`` folder of the suite, downloading it on first use."""
    override = os.environ.get("DJED_JSON_SCHEMA_SUITE")
    if override:
        return pathlib.Path(override)
    root = cache_dir()
    if (root / "tests").is_dir() and (root / "remotes").is_dir():
        return root
    with urllib.request.urlopen(SDIST_URL, timeout=60) as response:
        data = response.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SDIST_SHA256:
        msg = f"{SDIST} has SHA-256 {digest}, expected {SDIST_SHA256}"
        raise RuntimeError(msg)
    root.mkdir(parents=True, exist_ok=True)
    prefix = SDIST.removesuffix(".tar.gz") + "/json/"
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            if not member.isfile() or not member.name.startswith(prefix):
                continue
            relative = member.name[len(prefix) :]
            if not relative.startswith(("tests/", "remotes/")) or ".." in relative:
                continue
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            extracted = archive.extractfile(member)
            assert extracted is not None
            target.write_bytes(extracted.read())
    return root


def remotes(root: pathlib.Path) -> dict[str, Any]:
    """The suite's remote documents, by the URI its tests expect them at."""
    documents: dict[str, Any] = {}
    for path in sorted((root / "remotes").rglob("*.json")):
        uri = REMOTES_BASE + path.relative_to(root / "remotes").as_posix()
        documents[uri] = json.loads(path.read_text(encoding="utf-8"))
    return documents


def metaschemas() -> dict[str, Any]:
    """The draft 4, 6 and 7 meta-schemas, as shipped by the jsonschema-specifications package."""
    import jsonschema_specifications

    folder = pathlib.Path(jsonschema_specifications.__file__).parent / "schemas"
    documents: dict[str, Any] = {}
    for draft in ("4", "6", "7"):
        document = json.loads((folder / f"draft{draft}" / "metaschema.json").read_text("utf-8"))
        documents[f"http://json-schema.org/draft-0{draft}/schema"] = document
    return documents


def cases(root: pathlib.Path, folder: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(id, case, test) for every required test of one draft folder (not ``optional/``)."""
    for path in sorted((root / "tests" / folder).glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8")):
            for test in case["tests"]:
                yield f"{path.stem}: {case['description']}: {test['description']}", case, test
