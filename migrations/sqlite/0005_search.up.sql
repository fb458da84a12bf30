-- Text search, in step with postgres/0005_search.up.sql. SQLite already has
-- what that migration builds on PostgreSQL: leads_fts with its triggers (0001),
-- whose unicode61 tokenizer folds case and diacritics. Nothing changes here.
SELECT 1;
