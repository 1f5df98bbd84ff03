-- When each staff member last signed in, shown to School Admins reviewing role assignments.
ALTER TABLE staff ADD COLUMN last_signed_in_at timestamptz;
