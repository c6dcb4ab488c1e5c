"""Server roles: settings, logging, the `prela` CLI and the process compositions (`serve`)."""
