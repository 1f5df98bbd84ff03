-- One row per school per day on which the retention run ran (Europe/London dates). Claiming a
-- day is an INSERT that conflicts for every process but the first, so each school's run
-- happens exactly once a day however many workers tick.
CREATE TABLE platform.retention_runs (
    tenant_id   uuid NOT NULL REFERENCES platform.tenants (id) ON DELETE CASCADE,
    run_on      date NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    -- What was deleted, by kind (counts only), or why the run failed.
    counts      jsonb,
    error       text,
    PRIMARY KEY (tenant_id, run_on)
);
COMMENT ON TABLE platform.retention_runs IS 'Each school''s daily retention run: claimed once per day, with its counts.';
