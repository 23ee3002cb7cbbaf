package store

// schemaV9TransferIndexes drops what a transfer's writes maintained for no
// reader (every index a row is in costs its INSERT and UPDATEs a b-tree
// write, and its COMMIT a dirty page, one WAL frame, each):
//   - transfers_from_asset_created: no query searches it (the spend windows
//     are read by seq and created_at: transfers_seq, transfers_created);
//   - transfers_tx_hash_any, which held every signed row's hash a second
//     time (transfers_tx_hash holds the live ones), becomes
//     transfers_tx_hash_failed, which holds only failed rows' hashes: the
//     only reader, TransferByHash, looks among failed rows only after no live
//     one matched;
//   - transfers_unfinished: Unfinished reads pending rows through
//     transfers_reserved and signed ones through transfers_unsettled, the
//     partial indexes the settling loop keeps anyway.
const schemaV9TransferIndexes = `
DROP INDEX transfers_from_asset_created;
DROP INDEX transfers_tx_hash_any;
CREATE INDEX transfers_tx_hash_failed ON transfers (tx_hash) WHERE tx_hash IS NOT NULL AND status = 'failed';
DROP INDEX transfers_unfinished;
`
