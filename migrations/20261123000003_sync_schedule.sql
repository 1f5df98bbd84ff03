-- When each school's next timed roster sync is due. Workers claim a sync by moving this forward
-- in a guarded UPDATE, so each due sync is started by exactly one worker process.
ALTER TABLE platform.tenants ADD COLUMN next_sync_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX tenants_next_sync ON platform.tenants (next_sync_at) WHERE status = 'active';
