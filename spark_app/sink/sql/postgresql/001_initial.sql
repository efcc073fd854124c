-- The sink's tables on PostgreSQL: the same names, columns and rules as on MySQL.
-- timestamp (without time zone) columns hold UTC; every connection sets TimeZone=UTC.

CREATE TABLE IF NOT EXISTS events (
    event_id    varchar(64)   NOT NULL PRIMARY KEY,
    user_id     varchar(64)   NOT NULL,
    product_id  varchar(64)   NOT NULL,
    event_type  varchar(32)   NOT NULL,
    price       numeric(10,2) NOT NULL,
    event_time  timestamp(6)  NOT NULL,
    source_file text          NOT NULL,
    source_line integer       NOT NULL,
    query_id    char(36)      NOT NULL,
    batch_id    bigint        NOT NULL,
    ingested_at timestamp(6)  NOT NULL
);

CREATE TABLE IF NOT EXISTS events_rejected (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reason      varchar(32)  NOT NULL,
    detail      varchar(255) NULL,
    source_file text         NOT NULL,
    source_line integer      NOT NULL,
    raw_line    text         NOT NULL,
    query_id    char(36)     NOT NULL,
    batch_id    bigint       NOT NULL,
    rejected_at timestamp(6) NOT NULL
);
CREATE INDEX IF NOT EXISTS events_rejected_reason ON events_rejected (reason);

CREATE TABLE IF NOT EXISTS ingest_batches (
    query_id          char(36)      NOT NULL,
    batch_id          bigint        NOT NULL,
    run_id            varchar(32)   NOT NULL,
    committed_at      timestamp(6)  NOT NULL,
    files             integer       NOT NULL,
    rows_read         bigint        NOT NULL,
    rows_written      bigint        NOT NULL,
    rows_duplicate    bigint        NOT NULL,
    rows_rejected     bigint        NOT NULL,
    stage_ms          integer       NOT NULL,
    commit_ms         integer       NOT NULL,
    total_ms          integer       NOT NULL,
    rows_per_second   numeric(12,1) NOT NULL,
    oldest_file_age_s numeric(12,3) NULL,
    newest_file_age_s numeric(12,3) NULL,
    retries           integer       NOT NULL,
    users_upserted    bigint        NOT NULL DEFAULT 0,
    products_upserted bigint        NOT NULL DEFAULT 0,
    write_path        varchar(16)   NOT NULL DEFAULT 'copy',
    PRIMARY KEY (query_id, batch_id)
);
CREATE INDEX IF NOT EXISTS ingest_batches_committed ON ingest_batches (committed_at);

CREATE TABLE IF NOT EXISTS ingest_files (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    query_id      char(36)     NOT NULL,
    batch_id      bigint       NOT NULL,
    source_file   text         NOT NULL,
    file_modified timestamp(6) NOT NULL,
    records       integer      NOT NULL,
    committed_at  timestamp(6) NOT NULL
);
CREATE INDEX IF NOT EXISTS ingest_files_batch ON ingest_files (query_id, batch_id);
CREATE INDEX IF NOT EXISTS ingest_files_committed ON ingest_files (committed_at);

CREATE TABLE IF NOT EXISTS pipeline_runs (
    run_id                 varchar(32)   NOT NULL PRIMARY KEY,
    started_at             timestamp(6)  NOT NULL,
    recorded_at            timestamp(6)  NOT NULL,
    state                  varchar(16)   NOT NULL,
    schema_version         varchar(8)    NOT NULL,
    sources_processed      bigint        NOT NULL,
    total_duration_seconds numeric(14,3) NOT NULL,
    total_records          bigint        NOT NULL,
    throughput_rpm         numeric(14,1) NOT NULL,
    quality_pass_rate      numeric(7,6)  NOT NULL,
    retries                integer       NOT NULL,
    errors                 integer       NOT NULL,
    cpu_peak_percent       numeric(6,2)  NULL,
    cpu_avg_percent        numeric(6,2)  NULL,
    memory_peak_mb         numeric(12,1) NULL,
    memory_avg_mb          numeric(12,1) NULL,
    disk_read_mb           numeric(14,1) NULL,
    disk_write_mb          numeric(14,1) NULL,
    python_version         varchar(32)   NULL,
    hostname               varchar(255)  NULL,
    os_name                varchar(32)   NULL,
    os_version             varchar(128)  NULL,
    cpu_cores              integer       NULL,
    total_memory_mb        bigint        NULL
);
CREATE INDEX IF NOT EXISTS pipeline_runs_started ON pipeline_runs (started_at);

CREATE TABLE IF NOT EXISTS users (
    user_id        varchar(64)  NOT NULL PRIMARY KEY,
    name           varchar(255) NULL,
    email          varchar(255) NULL,
    city           varchar(255) NULL,
    registered_at  timestamp(6) NULL,
    is_placeholder boolean      NOT NULL,
    source_file    text         NULL,
    file_modified  timestamp(6) NULL,
    source_line    integer      NULL,
    updated_at     timestamp(6) NOT NULL
);
CREATE INDEX IF NOT EXISTS users_email ON users (email);

CREATE TABLE IF NOT EXISTS products (
    product_id     varchar(64)   NOT NULL PRIMARY KEY,
    name           varchar(255)  NULL,
    category       varchar(255)  NULL,
    list_price     numeric(10,2) NULL,
    is_placeholder boolean       NOT NULL,
    source_file    text          NULL,
    file_modified  timestamp(6)  NULL,
    source_line    integer       NULL,
    updated_at     timestamp(6)  NOT NULL
);

CREATE TABLE IF NOT EXISTS events_per_minute (
    minute_start timestamp(0)  NOT NULL,
    event_type   varchar(32)   NOT NULL,
    events       bigint        NOT NULL,
    price_total  numeric(20,2) NOT NULL,
    PRIMARY KEY (minute_start, event_type)
);
