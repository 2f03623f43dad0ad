"""Raw data: ingest (:mod:`.ingest`) and schema validation (:mod:`.schema`)."""
