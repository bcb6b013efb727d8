"""The one exception type the CLI turns into a single line on stderr and a non-zero exit, without a traceback."""


class HDTFError(Exception):
    """A user-facing error: bad input, missing file, wrong model directory. The message is the whole story."""
