-- Version 3: a file may carry any modification time (1970, 2200): its age in seconds is
-- recorded in wider columns (and clamped to them).

ALTER TABLE ingest_batches
    MODIFY oldest_file_age_s DECIMAL(16,3) NULL,
    MODIFY newest_file_age_s DECIMAL(16,3) NULL;
