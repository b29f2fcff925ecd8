"""Errors a user can fix; the CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """Bad input from the user (a wrong recipe key, a missing file, an unknown model path).

    The public functions raise it for whatever the caller can fix, with a message that says what to
    change; the CLI prints the message as one line and exits with code 2.
    """


def format_validation_error(error, where: str, model=None, sep: str = "; ") -> str:
    """A pydantic ValidationError as ``where.key.path: message`` lines a user can act on.

    An unknown key lists the allowed keys of the (nested) ``model`` it was found in; a bad literal
    shows the value that was given.

    Args:
        error: the ``pydantic.ValidationError``.
        where: the prefix of every line (``"recipe: "``, ``"subset."``).
        model: the pydantic model that was validated, for the allowed keys of an unknown one.
        sep: what joins the lines.

    Returns:
        One line per error, joined by ``sep``.
    """
    lines = []
    for err in error.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, err["loc"]) if model is not None else []
            msg = f"unknown key; allowed: {', '.join(allowed)}" if allowed else "unknown key"
        elif err["type"] == "literal_error":
            msg = f"got {err.get('input')!r}; {msg.lower()}"
        lines.append(f"{where}{loc}: {msg}" if loc else f"{where}{msg}")
    return sep.join(lines)


def _allowed_keys(model, loc: tuple) -> list[str]:
    from pydantic import BaseModel

    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None)
        inner = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            break
        model = inner[0]
    return list(model.model_fields)
