-- Priority, chosen at submit: each level has its own Redis stream, which the
-- workers read in a weighted order (see conveyor_core.streams).
ALTER TABLE jobs ADD COLUMN priority text NOT NULL DEFAULT 'normal'
    CHECK (priority IN ('high', 'normal', 'low'));
