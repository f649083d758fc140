"""The project's own errors. Each carries one line a person can act on."""


class RewriterError(Exception):
    """Base class: the message is shown to the user as is."""


class InputError(RewriterError):
    """An article could not be read or decoded."""


class LLMError(RewriterError):
    """The model could not give a usable answer.

    Carries what is needed to understand why: the last raw reply, how many
    attempts were made and the usage spent on them.
    """

    def __init__(self, message: str, *, raw: str | None = None, attempts: int = 0, calls=None):
        super().__init__(message)
        self.raw = raw
        self.attempts = attempts
        self.calls = list(calls or [])


class ConfigError(RewriterError):
    """Settings that cannot work (bad URL, missing key for a remote API, ...)."""


class OutputError(RewriterError):
    """Results could not be written where they were asked for."""


class ApplyError(RewriterError):
    """An approved change could not be applied safely."""


class Interrupted(RewriterError):
    """The work was stopped (SIGINT, SIGTERM) before it was done; what was done is kept."""


class SearchError(RewriterError):
    """A search provider could not answer (unreachable, refused, or not the documented shape)."""


class GoldError(RewriterError):
    """A gold file of `rewriter eval` is missing, unreadable or does not match schemas/gold.json."""
