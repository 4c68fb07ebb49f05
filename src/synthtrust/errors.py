"""Errors the command line turns into a clear message and a non-zero exit."""


class SynthtrustError(Exception):
    """Base class: an expected failure with a message meant for the user."""


class DataError(SynthtrustError):
    """Input data is missing, unreadable or inconsistent; the message names the file and the problem."""


class ParamsError(SynthtrustError):
    """A parameter in params.yaml (or on the command line) is invalid; the message names the key."""


def user_error(exc: BaseException) -> SynthtrustError | None:
    """The SynthtrustError inside ``exc``'s cause chain (MONAI wraps transform errors), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, SynthtrustError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
