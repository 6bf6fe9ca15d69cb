-- anonymous rider feedback (append-only), see locator.services.feedback
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    facility_id TEXT NOT NULL,
    facility_version INTEGER NOT NULL DEFAULT 0,
    verdict TEXT NOT NULL CHECK (verdict IN ('confirm', 'problem')),
    reason TEXT NOT NULL DEFAULT ''
        CHECK (reason IN ('', 'closed', 'gone', 'moved', 'missing_service', 'other')),
    comment TEXT NOT NULL DEFAULT '',
    client TEXT NOT NULL DEFAULT '',
    locale TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL
);
CREATE INDEX feedback_facility_at ON feedback (facility_id, at);
CREATE INDEX feedback_at ON feedback (at);
CREATE TRIGGER feedback_append_only_u BEFORE UPDATE ON feedback
    BEGIN SELECT RAISE(ABORT, 'feedback is append-only'); END;
