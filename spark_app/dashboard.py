"""`python -m spark_app.dashboard`: the command lives in spark_app.commands.dashboard."""

import sys

from spark_app.commands.dashboard import main

if __name__ == "__main__":
    sys.exit(main())
