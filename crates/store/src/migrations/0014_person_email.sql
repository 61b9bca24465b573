-- 0014 a person's e-mail address (R-ACC-4): where activation links go when SMTP is configured.

ALTER TABLE people ADD COLUMN email TEXT NOT NULL DEFAULT '';
