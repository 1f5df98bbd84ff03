-- Where a class belongs: a year group beside its subject, each from the School Admin's rules
-- (patterns on the class's name or section, first match by position) unless the class has an
-- override of its own.
CREATE TABLE year_group_rules (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    position    integer NOT NULL,
    pattern     text NOT NULL CHECK (length(btrim(pattern)) BETWEEN 1 AND 200),
    year_group  smallint NOT NULL CHECK (year_group BETWEEN 1 AND 13),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT year_group_rules_position_key UNIQUE (position)
);
COMMENT ON TABLE year_group_rules IS 'Course name/section patterns giving classes their year group, in order.';

ALTER TABLE courses
    ADD COLUMN year_group smallint CHECK (year_group BETWEEN 1 AND 13),
    ADD COLUMN subject_override uuid REFERENCES subjects (id) ON DELETE SET NULL,
    ADD COLUMN year_group_override smallint CHECK (year_group_override BETWEEN 1 AND 13);
