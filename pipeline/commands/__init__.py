"""Click commands, one module per area.  Each module exposes ``COMMANDS``: a list
of click commands or groups that ``pipeline.cli`` registers."""
