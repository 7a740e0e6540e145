-- Keyset paging of an org's credentials orders by (created_at, client_id):
-- this index serves both the WHERE and the ORDER BY, so a page costs
-- O(limit) whatever the org's size. It supersedes credentials_by_org.
CREATE INDEX credentials_by_org_page ON credentials (org, created_at, client_id);
DROP INDEX credentials_by_org;
