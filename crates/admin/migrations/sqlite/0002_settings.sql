-- Server-wide settings, e.g. the master key's check value (a one-way hash,
-- not a key: it only tells whether a configured master key is the one the
-- database's credentials were issued under).
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
