"""Jobs: work that outlives a request, recorded in the database (:mod:`.models`), claimed
by one process at a time and run by the configured runner (:mod:`.service`)."""
