-- 0016 the office calendar (issue 6's risk flags): holidays, and weekend days that are working
-- days (補行上班日), as the Directorate-General of Personnel Administration announces each year.

CREATE TABLE calendar_days (
    day TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    set_by BIGINT REFERENCES accounts (id),
    set_at BIGINT NOT NULL
);
