"""The jobctl command line and the client under it: what producers and operators run on
their own machines (never in the Lambda package)."""
