"""`python -m spark_app.report`, kept working: the command lives in spark_app.commands.report."""

import sys

from spark_app.commands.report import main

if __name__ == "__main__":
    sys.exit(main())
