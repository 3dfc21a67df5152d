"""Split long replies into pieces a platform accepts, at the most natural boundary available."""

from __future__ import annotations

_BOUNDARIES = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at a paragraph, line, sentence or word end.

    A screen reader then reads each message as whole sentences; only a single word longer than
    `limit` is cut inside.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for boundary in _BOUNDARIES:
            at = window.rfind(boundary)
            if at > 0:
                cut = at + len(boundary.rstrip()) if boundary.strip() else at
                break
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces
