"""The one error type for bad user input.

Everything a user can get wrong (a file, a box, a checkpoint, a config name) raises
:class:`InputError` with a one-line message that names the offending file and the problem.
The command line prints that line and exits with status 2 instead of a traceback.
"""


class InputError(ValueError):
    """Bad input from the user: a one-line, self-explanatory message."""
