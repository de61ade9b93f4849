"""`python -m tuichat` is the `tuichat` command."""
import sys

from tuichat.cli.main import main

sys.exit(main())
