-- Roster sync: how courses map to subjects, and a record of every sync run.

-- A School Admin's rules putting courses under subjects: the first rule (lowest position) whose
-- pattern matches the course name or section wins; `%` matches anything (SQL LIKE, case-blind).
CREATE TABLE subject_rules (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    position   integer NOT NULL,
    pattern    text NOT NULL CHECK (length(btrim(pattern)) BETWEEN 1 AND 200),
    subject_id uuid NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subject_rules_position_key UNIQUE (position)
);
COMMENT ON TABLE subject_rules IS 'Course name/section patterns mapping courses to subjects, in order.';

-- Every roster sync: when, why, what changed, what failed.
CREATE TABLE sync_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now(),
    trigger      text NOT NULL CHECK (trigger IN ('timer', 'sign_in', 'manual', 'cli')),
    courses      integer NOT NULL DEFAULT 0,
    added        integer NOT NULL DEFAULT 0,
    updated      integer NOT NULL DEFAULT 0,
    ended        integer NOT NULL DEFAULT 0,
    api_calls    integer NOT NULL DEFAULT 0,
    errors       jsonb NOT NULL DEFAULT '[]'::jsonb,
    duration_ms  integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE sync_runs IS 'One row per roster sync: counts of changes, API calls, errors and duration.';
CREATE INDEX sync_runs_started ON sync_runs (started_at DESC);

-- Courses without a matching rule sit under this subject.
INSERT INTO subjects (name) VALUES ('Unsorted');

-- Two entries can never follow the same one: a writer that somehow read a stale chain head
-- (e.g. under an isolation level other than read committed) fails instead of forking the chain.
CREATE UNIQUE INDEX audit_log_prev_hash_key ON audit_log (prev_hash);
