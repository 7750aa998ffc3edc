"""``djed.crdt.stores``: a document store, opened from a location and options."""

from __future__ import annotations

from djed.crdt import FileStorage


class FolderStore(FileStorage):
    """Djed's file store under a plugin's name, keeping the options it was opened with."""

    def __init__(self, location: str | None, **options: str) -> None:
        if location is None:
            raise ValueError("the folder store needs a location: the folder to keep documents in")
        super().__init__(location)
        self.options = options


def not_a_store(location: str | None) -> object:
    """Returns something that is not a store."""
    return object()
