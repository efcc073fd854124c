"""The marker row that the parse step writes and the sink reads: one per piece of a file.

After a piece's records comes one row of `kind` FILE_MARKER whose detail is how many records
the piece gave; the sink adds them up per file (ingest_files.records) and checks that they add
up to the rows read. The record kinds are the files' own (parse.csvsplit: events, users,
products).
"""

from __future__ import annotations

FILE_MARKER = "file"
