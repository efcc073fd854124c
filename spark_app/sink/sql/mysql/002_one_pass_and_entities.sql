-- Version 2: rows are written once, from the driver; lineage paths of any length; files
-- recorded per batch; users and products as entities; per-minute totals. (Databases made by
-- the first release keep an unused events_staging table: the owner may drop it.)

ALTER TABLE events MODIFY source_file TEXT NOT NULL COMMENT 'lineage: file the row came from';

ALTER TABLE events_rejected MODIFY source_file TEXT NOT NULL;

ALTER TABLE ingest_batches
    ADD COLUMN users_upserted    BIGINT      NOT NULL DEFAULT 0,
    ADD COLUMN products_upserted BIGINT      NOT NULL DEFAULT 0,
    ADD COLUMN write_path        VARCHAR(16) NOT NULL DEFAULT 'staging';

-- Every file a batch read, also those without a data line (empty or header only).
CREATE TABLE IF NOT EXISTS ingest_files (
    id            BIGINT      NOT NULL AUTO_INCREMENT,
    query_id      CHAR(36)    NOT NULL,
    batch_id      BIGINT      NOT NULL,
    source_file   TEXT        NOT NULL,
    file_modified DATETIME(6) NOT NULL COMMENT 'UTC',
    records       INT         NOT NULL COMMENT 'data lines, blank lines not counted',
    committed_at  DATETIME(6) NOT NULL COMMENT 'UTC',
    PRIMARY KEY (id),
    KEY ingest_files_batch (query_id, batch_id),
    KEY ingest_files_committed (committed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The latest arrival of a user_id wins; a placeholder stands in for a user that events name
-- before the user's own row has arrived.
CREATE TABLE IF NOT EXISTS users (
    user_id        VARCHAR(64)  NOT NULL,
    name           VARCHAR(255) NULL,
    email          VARCHAR(255) NULL,
    city           VARCHAR(255) NULL,
    registered_at  DATETIME(6)  NULL COMMENT 'UTC',
    is_placeholder BOOLEAN      NOT NULL COMMENT 'inferred from an event, real row not yet seen',
    source_file    TEXT         NULL,
    file_modified  DATETIME(6)  NULL COMMENT 'arrival of the row that won',
    source_line    INT          NULL,
    updated_at     DATETIME(6)  NOT NULL COMMENT 'UTC',
    PRIMARY KEY (user_id),
    KEY users_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS products (
    product_id     VARCHAR(64)   NOT NULL,
    name           VARCHAR(255)  NULL,
    category       VARCHAR(255)  NULL,
    list_price     DECIMAL(10,2) NULL,
    is_placeholder BOOLEAN       NOT NULL COMMENT 'inferred from an event, real row not yet seen',
    source_file    TEXT          NULL,
    file_modified  DATETIME(6)   NULL COMMENT 'arrival of the row that won',
    source_line    INT           NULL,
    updated_at     DATETIME(6)   NOT NULL COMMENT 'UTC',
    PRIMARY KEY (product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Kept in each batch's own transaction: always equal to the GROUP BY over events.
CREATE TABLE IF NOT EXISTS events_per_minute (
    minute_start DATETIME      NOT NULL COMMENT 'UTC minute of event_time',
    event_type   VARCHAR(32)   NOT NULL,
    events       BIGINT        NOT NULL,
    price_total  DECIMAL(20,2) NOT NULL,
    PRIMARY KEY (minute_start, event_type)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
