-- Version 1: the tables as first released, portable to MySQL 8 and MariaDB 10.6+. Ids compare
-- byte for byte (utf8mb4_bin), so 'A1' and 'a1' are two events.

-- One row per accepted event; the first committed row for an event_id wins.
CREATE TABLE IF NOT EXISTS events (
    event_id    VARCHAR(64)   NOT NULL,
    user_id     VARCHAR(64)   NOT NULL,
    product_id  VARCHAR(64)   NOT NULL,
    event_type  VARCHAR(32)   NOT NULL,
    price       DECIMAL(10,2) NOT NULL,
    event_time  DATETIME(6)   NOT NULL COMMENT 'UTC',
    source_file VARCHAR(1024) NOT NULL COMMENT 'lineage: file the row came from',
    source_line INT           NOT NULL COMMENT 'lineage: line of the record in that file',
    query_id    CHAR(36)      NOT NULL COMMENT 'lineage: streaming query (checkpoint) id',
    batch_id    BIGINT        NOT NULL COMMENT 'lineage: micro-batch id',
    ingested_at DATETIME(6)   NOT NULL COMMENT 'UTC commit time',
    PRIMARY KEY (event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per quarantined input line: nothing read is ever silently dropped.
CREATE TABLE IF NOT EXISTS events_rejected (
    id          BIGINT        NOT NULL AUTO_INCREMENT,
    reason      VARCHAR(32)   NOT NULL,
    detail      VARCHAR(255)  NULL,
    source_file VARCHAR(1024) NOT NULL,
    source_line INT           NOT NULL,
    raw_line    MEDIUMTEXT    NOT NULL,
    query_id    CHAR(36)      NOT NULL,
    batch_id    BIGINT        NOT NULL,
    rejected_at DATETIME(6)   NOT NULL COMMENT 'UTC commit time',
    PRIMARY KEY (id),
    KEY events_rejected_reason (reason)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per committed micro-batch: the replay guard and the accounting
-- (rows_read = rows_written + rows_duplicate + rows_rejected).
CREATE TABLE IF NOT EXISTS ingest_batches (
    query_id          CHAR(36)      NOT NULL,
    batch_id          BIGINT        NOT NULL,
    run_id            VARCHAR(32)   NOT NULL,
    committed_at      DATETIME(6)   NOT NULL COMMENT 'UTC',
    files             INT           NOT NULL,
    rows_read         BIGINT        NOT NULL,
    rows_written      BIGINT        NOT NULL,
    rows_duplicate    BIGINT        NOT NULL,
    rows_rejected     BIGINT        NOT NULL,
    stage_ms          INT           NOT NULL COMMENT 'read, parse, validate and stage',
    commit_ms         INT           NOT NULL COMMENT 'the moving transaction',
    total_ms          INT           NOT NULL,
    rows_per_second   DECIMAL(12,1) NOT NULL,
    oldest_file_age_s DECIMAL(12,3) NULL COMMENT 'at commit, from file modification time',
    newest_file_age_s DECIMAL(12,3) NULL,
    retries           INT           NOT NULL,
    PRIMARY KEY (query_id, batch_id),
    KEY ingest_batches_committed (committed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per run of the app (a start of spark_app/main.py), from its v2.0 run record: upserted
-- every few minutes while it runs and at shutdown; records imported with spark_app.runs too.
-- Totals are sums over ingest_batches WHERE run_id = this run, so a replay cannot double them.
CREATE TABLE IF NOT EXISTS pipeline_runs (
    run_id                 VARCHAR(32)   NOT NULL COMMENT 'YYYYMMDD_HHMMSS, UTC start',
    started_at             DATETIME(6)   NOT NULL COMMENT 'UTC, the record timestamp',
    recorded_at            DATETIME(6)   NOT NULL COMMENT 'UTC, when this row was written',
    state                  VARCHAR(16)   NOT NULL COMMENT 'running, finished, failed or imported',
    schema_version         VARCHAR(8)    NOT NULL,
    sources_processed      BIGINT        NOT NULL COMMENT 'files',
    total_duration_seconds DECIMAL(14,3) NOT NULL,
    total_records          BIGINT        NOT NULL COMMENT 'rows read',
    throughput_rpm         DECIMAL(14,1) NOT NULL,
    quality_pass_rate      DECIMAL(7,6)  NOT NULL COMMENT 'rows written / rows read',
    retries                INT           NOT NULL,
    errors                 INT           NOT NULL,
    cpu_peak_percent       DECIMAL(6,2)  NULL COMMENT 'share of all cores of the machine',
    cpu_avg_percent        DECIMAL(6,2)  NULL,
    memory_peak_mb         DECIMAL(12,1) NULL COMMENT 'RSS of the Python driver plus its JVM',
    memory_avg_mb          DECIMAL(12,1) NULL,
    disk_read_mb           DECIMAL(14,1) NULL,
    disk_write_mb          DECIMAL(14,1) NULL,
    python_version         VARCHAR(32)   NULL,
    hostname               VARCHAR(255)  NULL,
    os_name                VARCHAR(32)   NULL,
    os_version             VARCHAR(128)  NULL,
    cpu_cores              INT           NULL,
    total_memory_mb        BIGINT        NULL,
    PRIMARY KEY (run_id),
    KEY pipeline_runs_started (started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
