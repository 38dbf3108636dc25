"""Tunables of the dashboard query, read at call time (tests and benchmarks change them)."""

# Past this many rows, a page is found from narrow rows first and then read by keyset.
DEEP_OFFSET = 200
# A deep position is narrowed by probe rounds until it is this close, then merged exactly.
EXACT_TAIL = 500
# Counts beyond the maintained (status, priority) columns stop counting here: "10,000+".
COUNT_CAP = 10_000
# Matches past which a page is found faster by walking the sort index than from the index.
FTS_MANY_MATCHES = 500
# Matches past which a (capped) count is found faster by scanning: dense enough that the scan
# reaches the cap early. Below it the count reads the matches from the index.
FTS_MANY_MATCHES_FOR_COUNT = 2 * COUNT_CAP
