"""`python -m spark_app.runs`, kept working: the command lives in spark_app.commands.runs."""

import sys

from spark_app.commands.runs import main

if __name__ == "__main__":
    sys.exit(main())
