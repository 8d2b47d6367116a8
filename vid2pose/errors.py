"""Errors a user can act on. The CLI prints their message on one line; anything else is a bug."""

# Exit codes shared by every command (documented in the README).
EXIT_OK = 0
EXIT_FAILED = 1  # at least one input could not be processed
EXIT_USAGE = 2  # bad options, or an input path that names nothing
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells expect


class Vid2PoseError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = EXIT_FAILED


class UsageError(Vid2PoseError):
    exit_code = EXIT_USAGE


class InputError(Vid2PoseError):
    """The input exists but cannot be used: not a video, corrupt, no frames."""


class NoPersonError(Vid2PoseError):
    """The video was read but nobody was found in it."""


class MissingWeightsError(Vid2PoseError):
    """A model needs a weights file the user has to fetch (the message says which and where)."""


class WeightsError(Vid2PoseError):
    """A weights file exists but is the wrong file, damaged, or unsafe to load."""


class MissingDependencyError(Vid2PoseError):
    """An optional package is not installed (the message names the install command)."""
