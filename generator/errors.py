"""The small exception hierarchy. Core code raises these; only the CLI decides exit codes."""


class GongshiError(Exception):
    """Base of every error Gongshi reports to a user."""


class ConfigError(GongshiError):
    """A setting or argument cannot be used (wrong date, missing folder, …)."""


class InputError(GongshiError):
    """Input cannot be read at all (as opposed to rows that fail a rule, which are problems)."""


class BuildError(GongshiError):
    """The site could not be built; the previous site is left as it was."""
