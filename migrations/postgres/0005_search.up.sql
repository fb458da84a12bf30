-- Text search on PostgreSQL, in step with sqlite/0005_search.up.sql.
--
-- 0001 kept the searchable words in a generated tsvector column on leads. This
-- moves them to lead_search, one row per lead, the way SQLite keeps leads_fts:
--
-- * Every word is prefixed with the lead's project id ("<project>:andrea"), so
--   the GIN index keeps each project's words apart: a prefix that is common in
--   one project costs nothing when searching another, and the planner's row
--   estimates are per project.
-- * Words are lower-cased and stripped of diacritics ("Zoë Müller" is found by
--   "zoe mull"), as SQLite's unicode61 tokenizer with remove_diacritics does.
-- * The row is written by triggers only when a searchable column changes: the
--   ingest path updates counters and timestamps on every request and must not
--   rewrite the index each time (a generated column is recomputed on every
--   update of the row).
--
-- The store queries it in two steps (core/store/list.go): the newest leads in
-- the requested order first, then, for rare words only, the index.

ALTER TABLE leads DROP COLUMN search;

-- The searchable words of doc, folded, each prefixed with project and ":".
-- Only pg_catalog functions are called, so the function works whatever the
-- search_path (pg_restore runs with an empty one).
CREATE FUNCTION leadhub_search_words(project TEXT, doc TEXT) RETURNS TEXT[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(DISTINCT project || ':' || w), '{}')
    FROM regexp_split_to_table(
        translate(lower(doc),
            'àáâãäåçèéêëìíîïñòóôõöùúûüýÿāăąćĉċčďēĕėęěĝğġģĥĩīĭįĵķĺļľńņňōŏőŕŗřśŝşšţťũūŭůűųŵŷźżžơưǎǐǒǔǖǘǚǜǟǡǧǩǫǭǰǵǹǻȁȃȅȇȉȋȍȏȑȓȕȗșțȟȧȩȫȭȯȱȳḁḃḅḇḉḋḍḏḑḓḕḗḙḛḝḟḡḣḥḧḩḫḭḯḱḳḵḷḹḻḽḿṁṃṅṇṉṋṍṏṑṓṕṗṙṛṝṟṡṣṥṧṩṫṭṯṱṳṵṷṹṻṽṿẁẃẅẇẉẋẍẏẑẓẕẖẗẘẙạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹøđħłŧıƀɨ',
            'aaaaaaceeeeiiiinooooouuuuyyaaaccccdeeeeegggghiiiijklllnnnooorrrssssttuuuuuuwyzzzouaiouuuuuaagkoojgnaaaeeiioorruusthaeooooyabbbcdddddeeeeefghhhhhiikkkllllmmmnnnnoooopprrrrsssssttttuuuuuvvwwwwwxxyzzzhtwyaaaaaaaaaaaaeeeeeeeeiioooooooooooouuuuuuuyyyyodhltibi'),
        '[^[:alnum:]]+') AS w
    WHERE w <> ''
$$;

CREATE TABLE lead_search (
    lead_seq BIGINT PRIMARY KEY,
    words    TSVECTOR NOT NULL
);
CREATE INDEX lead_search_words ON lead_search USING GIN (words);

CREATE FUNCTION leadhub_lead_search_sync() RETURNS TRIGGER
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM lead_search WHERE lead_seq = OLD.seq;
        RETURN NULL;
    END IF;
    INSERT INTO lead_search (lead_seq, words)
    VALUES (NEW.seq, array_to_tsvector(leadhub_search_words(NEW.project_id,
        concat_ws(' ', NEW.fullname, NEW.lastname, NEW.email, NEW.phone, NEW.phone_norm, NEW.company))))
    ON CONFLICT (lead_seq) DO UPDATE SET words = excluded.words;
    RETURN NULL;
END
$$;

CREATE TRIGGER leads_search_insert AFTER INSERT ON leads
    FOR EACH ROW EXECUTE FUNCTION leadhub_lead_search_sync();
CREATE TRIGGER leads_search_update AFTER UPDATE OF fullname, lastname, email, phone, phone_norm, company ON leads
    FOR EACH ROW EXECUTE FUNCTION leadhub_lead_search_sync();
CREATE TRIGGER leads_search_delete AFTER DELETE ON leads
    FOR EACH ROW EXECUTE FUNCTION leadhub_lead_search_sync();

INSERT INTO lead_search (lead_seq, words)
SELECT seq, array_to_tsvector(leadhub_search_words(project_id,
    concat_ws(' ', fullname, lastname, email, phone, phone_norm, company)))
FROM leads;
