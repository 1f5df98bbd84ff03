-- Assessment windows: an Examinations Officer schedules the locking of whole classes for a
-- time. Every lock a window makes is an ordinary request on the portfolio row, so the lock
-- pipeline's guarantees hold; these tables say which windows hold which folders, and why.

-- One window. `state` moves only forward, each step one guarded UPDATE (so each start and end
-- happens once however many workers run): scheduled → active → ended, or → held at the end of
-- an "until released" window until an officer releases it; scheduled or active → cancelled.
CREATE TABLE assessment_windows (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    note            text CHECK (note IS NULL OR length(note) <= 2000),
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    until_released  boolean NOT NULL DEFAULT false,
    state           text NOT NULL DEFAULT 'scheduled'
                        CHECK (state IN ('scheduled', 'active', 'held', 'ended', 'cancelled')),
    created_by      uuid REFERENCES staff (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    finished_by     uuid REFERENCES staff (id) ON DELETE SET NULL,
    CONSTRAINT assessment_windows_end_after_start CHECK (ends_at > starts_at)
);
COMMENT ON TABLE assessment_windows IS 'Times when the portfolios of chosen classes are locked for an assessment.';
-- The timer's two questions: which windows should have started, and which should have ended?
CREATE INDEX assessment_windows_due_start ON assessment_windows (starts_at) WHERE state = 'scheduled';
CREATE INDEX assessment_windows_due_end ON assessment_windows (ends_at) WHERE state = 'active';
CREATE INDEX assessment_windows_period ON assessment_windows (starts_at, ends_at);

-- The classes a window covers: those chosen one by one (`chosen`), and, from its start, those
-- its selections caught (a class that comes to match a selection during the window is added).
CREATE TABLE window_classes (
    window_id  uuid NOT NULL REFERENCES assessment_windows (id) ON DELETE CASCADE,
    course_id  uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    chosen     boolean NOT NULL,
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (window_id, course_id)
);
COMMENT ON TABLE window_classes IS 'Classes covered by each window, chosen or caught by a selection.';
CREATE INDEX window_classes_course ON window_classes (course_id);

-- "All Year 11 Chemistry": a subject, a year group, or both; resolved when the window starts.
CREATE TABLE window_selections (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    window_id   uuid NOT NULL REFERENCES assessment_windows (id) ON DELETE CASCADE,
    subject_id  uuid REFERENCES subjects (id) ON DELETE CASCADE,
    year_group  smallint CHECK (year_group BETWEEN 1 AND 13),
    CONSTRAINT window_selections_says_something CHECK (subject_id IS NOT NULL OR year_group IS NOT NULL),
    CONSTRAINT window_selections_unique UNIQUE NULLS NOT DISTINCT (window_id, subject_id, year_group)
);
COMMENT ON TABLE window_selections IS 'Subject and year-group selections of classes for each window.';
CREATE INDEX window_selections_window ON window_selections (window_id);

-- An Examinations Officer's unlock of one student's folder inside a window, with the reason.
CREATE TABLE window_overrides (
    window_id     uuid NOT NULL REFERENCES assessment_windows (id) ON DELETE CASCADE,
    portfolio_id  uuid NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    reason        text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 500),
    by_staff      uuid REFERENCES staff (id) ON DELETE SET NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (window_id, portfolio_id)
);
COMMENT ON TABLE window_overrides IS 'Students an Examinations Officer let out of a window, and why.';
CREATE INDEX window_overrides_portfolio ON window_overrides (portfolio_id);

-- What staff last asked for by hand, apart from any window: a folder a teacher locked before
-- a window returns to locked when the window ends. Until now every lock was by hand.
ALTER TABLE portfolios ADD COLUMN locked_by_staff boolean NOT NULL DEFAULT false;
UPDATE portfolios SET locked_by_staff = (desired = 'locked');

-- Each Examinations Officer's secret calendar address. Only a hash of its token is kept, as
-- for a password: the address is shown once, and a new one replaces (revokes) the old.
CREATE TABLE calendar_feeds (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    staff_id      uuid NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    token_sha256  bytea NOT NULL CONSTRAINT calendar_feeds_token_key UNIQUE
                      CHECK (length(token_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_read_at  timestamptz
);
COMMENT ON TABLE calendar_feeds IS 'Secret iCalendar addresses of the school''s windows, one live per officer.';
CREATE UNIQUE INDEX calendar_feeds_one_live ON calendar_feeds (staff_id) WHERE revoked_at IS NULL;
