-- the managers' report queue: append-only report_resolutions, rider_reports view
CREATE TABLE report_resolutions (
    feedback_id bigint PRIMARY KEY REFERENCES feedback (id),
    status text NOT NULL CHECK (status IN ('resolved', 'dismissed')),
    action text NOT NULL DEFAULT '',
    resolved_by text NOT NULL,
    note text NOT NULL DEFAULT '',
    resolved_at timestamptz NOT NULL
);
CREATE FUNCTION report_resolutions_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'report_resolutions is append-only';
    END
    $$;
CREATE TRIGGER report_resolutions_no_update BEFORE UPDATE OR DELETE ON report_resolutions
    FOR EACH ROW EXECUTE FUNCTION report_resolutions_append_only();
CREATE TRIGGER report_resolutions_no_truncate BEFORE TRUNCATE ON report_resolutions
    FOR EACH STATEMENT EXECUTE FUNCTION report_resolutions_append_only();
CREATE VIEW rider_reports AS
    SELECT f.id, f.facility_id, f.reason, f.comment AS text, f.at AS created_at,
           coalesce(r.status, 'open') AS status, r.resolved_at,
           coalesce(r.resolved_by, '') AS resolved_by, coalesce(r.action, '') AS action,
           coalesce(r.note, '') AS note
    FROM feedback f LEFT JOIN report_resolutions r ON r.feedback_id = f.id
    WHERE f.verdict = 'problem';
