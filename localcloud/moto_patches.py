"""The one place where moto's own bugs are patched. Each patch names the bug it fixes
and has a test in tests/localcloud/test_moto_patches.py; drop a patch when the pinned
moto release fixes it."""

from __future__ import annotations

_applied = False


def apply() -> None:
    """Apply every patch once."""
    global _applied
    if _applied:
        return
    _applied = True
