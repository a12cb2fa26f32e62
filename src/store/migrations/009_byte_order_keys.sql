-- Ids, keys, codes and tokens compare byte by byte (collation "C").
--
-- They are opaque: no language orders them. Under a libc locale other than
-- C (this machine's default, C.UTF-8, included), every comparison of text in
-- an index goes through strcoll with a copy of both strings; the index
-- insertions of a 1,000,000-row decision import spent about 15 % of
-- PostgreSQL's time there. For valid UTF-8, byte order is code point order,
-- which is what C.UTF-8 gives: nothing is ordered differently here.
--
-- The rule: every text and text[] column of the gateway's tables, except the
-- `name_sort` columns (people's and places' names, sorted and searched as
-- language). A column added later that holds an id or a key is declared
-- COLLATE "C" too: an id compared with an id of another collation would not
-- use the other's index.
DO $$
DECLARE
  c record;
BEGIN
  FOR c IN
    SELECT table_name, column_name, udt_name
      FROM information_schema.columns
     WHERE table_schema = current_schema()
       AND udt_name IN ('text', '_text')
       AND column_name <> 'name_sort'
       AND table_name <> 'schema_migration'
       AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE')
     ORDER BY table_name, ordinal_position
  LOOP
    EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE %s COLLATE "C"', c.table_name, c.column_name, CASE WHEN c.udt_name = '_text' THEN 'text[]' ELSE 'text' END);
  END LOOP;
END $$;
