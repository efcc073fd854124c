-- Version 3: a file may carry any modification time (1970, 2200): its age in seconds is
-- recorded in wider columns (and clamped to them).

ALTER TABLE ingest_batches
    ALTER COLUMN oldest_file_age_s TYPE numeric(16,3),
    ALTER COLUMN newest_file_age_s TYPE numeric(16,3);
