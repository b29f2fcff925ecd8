"""The opt-in shared arena (``curate app RUN --voters FILE``): who may vote, by a personal token.

The file has one voter per line, ``NAME TOKEN`` (``#`` starts a comment); each voter opens the app at
``http://HOST:PORT/arena?voter=TOKEN``. Without the file the arena is anonymous, one vote per battle and
browser session, as before. With it, every vote records its voter, a voter votes once per battle
whichever tab they use, and a per-voter rate limit (``votes.RATE_LIMIT``) stops vote stuffing.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from curate.errors import UserError

MIN_TOKEN = 8  # characters; shorter tokens are guessable from the link's shape


def load(path: str | Path) -> dict[str, str]:
    """token -> voter name, from ``path``; a ``UserError`` names the first bad line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise UserError(f"--voters: cannot read {path}: {e}") from e
    out: dict[str, str] = {}
    for n, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) != 2:
            raise UserError(f"--voters {path}, line {n}: expected 'NAME TOKEN', got {line.strip()!r}")
        name, token = words
        if len(token) < MIN_TOKEN:
            raise UserError(f"--voters {path}, line {n}: the token of {name!r} is shorter than {MIN_TOKEN} "
                            f"characters (e.g. {secrets.token_urlsafe(9)})")
        if token in out:
            raise UserError(f"--voters {path}, line {n}: {name!r} has the same token as {out[token]!r}")
        out[token] = name
    if not out:
        raise UserError(f"--voters {path}: no voters in it (one 'NAME TOKEN' per line)")
    return out


def links(voters: dict[str, str], base_url: str) -> list[str]:
    """One line per voter: their name and personal arena link."""
    return [f"{name}: {base_url}/arena?voter={token}" for token, name in voters.items()]
