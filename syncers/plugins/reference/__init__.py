"""The shipped sample plugins: `gateway` (fetch_raw_data from a granted connection) and
`data_syncer` (hourly or forced sync of those items through worker batches). Read
data_syncer.py as the example of a plugin; both register in syncers/sync_plugins.py."""
