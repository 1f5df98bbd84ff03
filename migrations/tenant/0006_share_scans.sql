-- The onward-share scan: after a class is locked, the contents of its students' folders are
-- listed and every direct grant on them that is not ours is reported to the School Admin, who
-- decides whether it is removed.

-- One scan of one class's folders. A class lock leaves a `waiting` scan, which is queued once
-- every lock in the class has been applied (or has failed for good).
CREATE TABLE share_scans (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    course_id     uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    reason        text NOT NULL CHECK (reason IN ('class_lock', 'window_lock', 'manual')),
    requested_by  uuid REFERENCES staff (id) ON DELETE SET NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    status        text NOT NULL DEFAULT 'waiting'
                      CHECK (status IN ('waiting', 'queued', 'running', 'done', 'failed', 'superseded')),
    status_at     timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    folders       integer NOT NULL DEFAULT 0,
    items         integer NOT NULL DEFAULT 0,
    api_calls     integer NOT NULL DEFAULT 0,
    findings      integer NOT NULL DEFAULT 0,
    last_error    text
);
COMMENT ON TABLE share_scans IS 'Scans of a class''s portfolio folders for grants students made onward.';
-- At most one scan per class waits to start: a second lock while one waits adds nothing. A
-- scan cut off while another waits for its class is `superseded` by that one, not run again.
CREATE UNIQUE INDEX share_scans_one_pending ON share_scans (course_id)
    WHERE status IN ('waiting', 'queued');
CREATE INDEX share_scans_open ON share_scans (status_at) WHERE status IN ('waiting', 'queued', 'running');
CREATE INDEX share_scans_recent ON share_scans (requested_at DESC);

-- A direct grant found on an item in a student's folder that is neither ours nor the Drive
-- operator's. The grantee (an email address or a domain) is kept so the School Admin can judge
-- it; the audit log holds only ids.
CREATE TABLE share_findings (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    portfolio_id    uuid NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    drive_item_id   text NOT NULL,
    item_name       text NOT NULL,
    permission_id   text NOT NULL,
    grantee_type    text NOT NULL CHECK (grantee_type IN ('user', 'group', 'domain', 'anyone', 'unknown')),
    grantee         text,
    role            text NOT NULL,
    -- The role the School Admin kept: a later rise above it is reported again.
    kept_role       text,
    status          text NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'removing', 'removed', 'kept', 'gone')),
    first_found_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    last_scan_id    bigint REFERENCES share_scans (id) ON DELETE SET NULL,
    decided_by      uuid REFERENCES staff (id) ON DELETE SET NULL,
    decided_at      timestamptz,
    -- When the removal job was last queued (the sweeper queues it again after a while).
    attempted_at    timestamptz,
    last_error      text,
    CONSTRAINT share_findings_item_permission_key UNIQUE (drive_item_id, permission_id)
);
COMMENT ON TABLE share_findings IS 'Grants on portfolio contents that are not ours, for the School Admin to remove or keep.';
CREATE INDEX share_findings_portfolio ON share_findings (portfolio_id);
CREATE INDEX share_findings_status ON share_findings (status, first_found_at);
