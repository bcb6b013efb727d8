"""One module per ``hdtf`` sub-command (see ``hdtf.cli``)."""
