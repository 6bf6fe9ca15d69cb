-- partners (embed origins, API keys by SHA-256 hash, daily quotas)
CREATE TABLE partners (
    name text COLLATE "C" PRIMARY KEY,
    origins text[] NOT NULL DEFAULT '{}',
    daily_quota bigint NOT NULL CHECK (daily_quota >= 1),
    key_hash text COLLATE "C" NOT NULL UNIQUE,
    key_prefix text NOT NULL,
    created_at timestamptz NOT NULL,
    key_created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
