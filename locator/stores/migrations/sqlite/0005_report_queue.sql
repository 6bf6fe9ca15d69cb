-- the managers' report queue: append-only report_resolutions, rider_reports view
CREATE TABLE report_resolutions (
    feedback_id INTEGER PRIMARY KEY REFERENCES feedback (id),
    status TEXT NOT NULL CHECK (status IN ('resolved', 'dismissed')),
    action TEXT NOT NULL DEFAULT '',
    resolved_by TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    resolved_at TEXT NOT NULL
);
CREATE TRIGGER report_resolutions_append_only_u BEFORE UPDATE ON report_resolutions
    BEGIN SELECT RAISE(ABORT, 'report_resolutions is append-only'); END;
CREATE TRIGGER report_resolutions_append_only_d BEFORE DELETE ON report_resolutions
    BEGIN SELECT RAISE(ABORT, 'report_resolutions is append-only'); END;
CREATE VIEW rider_reports AS
    SELECT f.id, f.facility_id, f.reason, f.comment AS text, f.at AS created_at,
           coalesce(r.status, 'open') AS status, r.resolved_at,
           coalesce(r.resolved_by, '') AS resolved_by, coalesce(r.action, '') AS action,
           coalesce(r.note, '') AS note
    FROM feedback f LEFT JOIN report_resolutions r ON r.feedback_id = f.id
    WHERE f.verdict = 'problem';
