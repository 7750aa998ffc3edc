"""Modules `djed eject` copies into a user's project: plain code on the library underneath.

They are never imported by djed-cli itself; they live here so that the linters,
the type checker and the tests of this repository keep them correct.
"""
