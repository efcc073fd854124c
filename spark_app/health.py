"""`python -m spark_app.health`, kept working: the command lives in spark_app.commands.health."""

import sys

from spark_app.commands.health import main

if __name__ == "__main__":
    sys.exit(main())
