-- When each school's next timed roster sync is due. Workers claim a sync by moving this forward
-- in a guarded UPDATE, so each due sync is started by exactly one worker process. New schools
-- start at a random point of the default 30-minute interval, so syncs spread out.
ALTER TABLE platform.tenants
    ADD COLUMN next_sync_at timestamptz NOT NULL DEFAULT now() + random() * interval '30 minutes';
CREATE INDEX tenants_next_sync ON platform.tenants (next_sync_at) WHERE status = 'active';
