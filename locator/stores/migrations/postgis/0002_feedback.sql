-- anonymous rider feedback (append-only), see locator.services.feedback
CREATE TABLE feedback (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    facility_id text COLLATE "C" NOT NULL,
    facility_version integer NOT NULL DEFAULT 0,
    verdict text NOT NULL CHECK (verdict IN ('confirm', 'problem')),
    reason text NOT NULL DEFAULT ''
        CHECK (reason IN ('', 'closed', 'gone', 'moved', 'missing_service', 'other')),
    comment text NOT NULL DEFAULT '',
    client text NOT NULL DEFAULT '',
    locale text NOT NULL DEFAULT '',
    at timestamptz NOT NULL
);
CREATE INDEX feedback_facility_at ON feedback (facility_id, at);
CREATE INDEX feedback_at ON feedback (at);
CREATE FUNCTION feedback_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'feedback is append-only';
    END
    $$;
CREATE TRIGGER feedback_no_update BEFORE UPDATE ON feedback
    FOR EACH ROW EXECUTE FUNCTION feedback_append_only();
