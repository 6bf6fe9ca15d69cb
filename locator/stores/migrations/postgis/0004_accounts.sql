-- accounts: users, API tokens (only a SHA-256 hash of each token is stored)
CREATE TABLE users (
    name text COLLATE "C" PRIMARY KEY CHECK (length(btrim(name)) > 0),
    role text NOT NULL CHECK (role IN ('admin', 'district_manager', 'station_manager')),
    password_hash text NOT NULL,
    districts text[] NOT NULL DEFAULT '{}',
    facilities text[] NOT NULL DEFAULT '{}',
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL
);
CREATE TABLE api_tokens (
    id text COLLATE "C" PRIMARY KEY,
    user_name text COLLATE "C" NOT NULL REFERENCES users (name),
    token_hash text COLLATE "C" NOT NULL UNIQUE,
    label text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_name);
