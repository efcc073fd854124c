"""`python -m spark_app.commands.dashboard`, the same as `python -m spark_app.dashboard`."""

import sys

from spark_app.commands.dashboard.cli import main

if __name__ == "__main__":
    sys.exit(main())
