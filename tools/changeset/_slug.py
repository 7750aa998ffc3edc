"""Readable random names for new changeset files, such as ``brave-lions-sing``."""

from __future__ import annotations

import secrets

__all__ = ["random_slug"]

# fmt: off
_ADJECTIVES = (
    "brave", "calm", "clever", "eager", "fancy", "gentle", "happy", "honest", "jolly", "kind",
    "lucky", "merry", "modern", "nice", "polite", "proud", "quick", "quiet", "rapid", "shiny",
    "silly", "smart", "swift", "tidy", "warm", "wise", "witty", "young",
)
_NOUNS = (
    "apples", "badgers", "bees", "birds", "cats", "clouds", "dingos", "doors", "eels", "ferns",
    "foxes", "frogs", "geese", "hats", "kiwis", "lamps", "lions", "moles", "owls", "pans",
    "pears", "plums", "rivers", "seals", "snails", "tigers", "trees", "waves",
)
_VERBS = (
    "argue", "bake", "beam", "bow", "care", "clap", "cough", "dance", "dream", "drum", "fly",
    "glow", "grin", "hide", "hum", "jump", "kneel", "laugh", "march", "nap", "play", "rest",
    "roar", "sing", "sleep", "smile", "swim", "talk", "tease", "wait", "walk", "wink",
)
# fmt: on


def random_slug() -> str:
    """Three random words joined by dashes: an adjective, a plural noun and a verb."""
    return "-".join(secrets.choice(words) for words in (_ADJECTIVES, _NOUNS, _VERBS))
