-- 0001 foundation: organisation, people, accounts, sessions, the catalogue.
-- Written once for SQLite and PostgreSQL: {{ID}} is the identity primary key of each dialect.
-- Times are UTC microseconds (BIGINT); calendar dates are ISO text (YYYY-MM-DD); flags are 0/1.

CREATE TABLE org_nodes (
    id {{ID}},
    parent_id BIGINT REFERENCES org_nodes (id),
    kind TEXT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    has_sections BIGINT NOT NULL DEFAULT 1,
    active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
CREATE INDEX org_nodes_parent ON org_nodes (parent_id);

CREATE TABLE people (
    id {{ID}},
    person_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    title TEXT NOT NULL,
    rank TEXT NOT NULL,
    hr_status TEXT NOT NULL,
    org_node_id BIGINT NOT NULL REFERENCES org_nodes (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX people_org ON people (org_node_id);

-- An account belongs to one person for life: person_ref never changes after insert.
CREATE TABLE accounts (
    id {{ID}},
    username TEXT NOT NULL UNIQUE,
    person_ref BIGINT NOT NULL REFERENCES people (id),
    status TEXT NOT NULL,
    password_hash TEXT,
    password_changed_at BIGINT,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    disable_on TEXT,
    last_sign_in_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX accounts_person ON accounts (person_ref);

CREATE TABLE account_roles (
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    role TEXT NOT NULL,
    PRIMARY KEY (account_id, role)
);

-- Only the SHA-256 of a token is stored: a copy of the database does not let anyone sign in.
CREATE TABLE activation_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    client_addr TEXT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE purposes (
    id {{ID}},
    number BIGINT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    nhia_approval_ref TEXT NOT NULL,
    nhia_approval_date TEXT,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE operations (
    id {{ID}},
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    conditions TEXT NOT NULL,
    results TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE linkages (
    id {{ID}},
    agency_id BIGINT NOT NULL REFERENCES org_nodes (id),
    purpose_id BIGINT NOT NULL REFERENCES purposes (id),
    operation_id BIGINT NOT NULL REFERENCES operations (id),
    nhia_approval_ref TEXT NOT NULL,
    nhia_approval_date TEXT,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (agency_id, purpose_id, operation_id)
);

-- Every change to the catalogue, with the values before and after (JSON), so retiring or editing
-- keeps history (R-PUR-2, R-X-6).
CREATE TABLE catalogue_history (
    id {{ID}},
    at BIGINT NOT NULL,
    actor_account_id BIGINT REFERENCES accounts (id),
    entity TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    action TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT
);
CREATE INDEX catalogue_history_entity ON catalogue_history (entity, entity_id);
