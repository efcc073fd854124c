"""Exit codes of the job and the operator commands: one meaning per number everywhere."""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
# The work failed: the job stopped on an error, or a check found a problem (unhealthy,
# integrity violations).
EXIT_FAILED: Final = 1
# ingest-runs: a record broke a rule or its run id is known already.
EXIT_INVALID: Final = 1
# Bad flags or settings, or an input file that cannot be read.
EXIT_USAGE: Final = 2
# The database is unreachable or refused the work.
EXIT_DATABASE: Final = 3
