"""Front ends without a screen: the `tuichat` entry point, its subcommands and the plain REPL.
Nothing heavy is imported at module level, so `--help` answers at once."""
