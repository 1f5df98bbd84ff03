-- What a roster sync left out because it is not the school's: courses owned by another
-- domain (counted) and students outside the school's domain (counted, and named by Classroom
-- id so the School Admin can look them up).
ALTER TABLE sync_runs ADD COLUMN skipped jsonb NOT NULL DEFAULT '{}'::jsonb;
COMMENT ON COLUMN sync_runs.skipped IS 'What the sync left out as not the school''s: course and student counts, student Classroom ids.';
