# bench/: the benchmark runner (`make bench`) and its helper programs,
# built only for it.
EXTRA_PROGRAMS = bench/raw_server bench/latency
bench_raw_server_SOURCES = bench/raw_server.c
bench_raw_server_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS)
bench_raw_server_LDADD = lib/libercore.la $(UV_LIBS)
bench_latency_SOURCES = bench/latency.c
bench_latency_LDADD = lib/libercore.la
# The durable-ingest baseline: the lmdb store's puts and commits, alone.
EXTRA_PROGRAMS += bench/raw_lmdb
bench_raw_lmdb_SOURCES = bench/raw_lmdb.c
bench_raw_lmdb_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS) $(LMDB_CFLAGS)
bench_raw_lmdb_LDADD = $(MSGPACK_LIBS) $(LMDB_LIBS)
# The query scenario: fill a store, then time QUERY {stream} with er_query.
EXTRA_PROGRAMS += bench/query
bench_query_SOURCES = bench/query.c
bench_query_LDADD = lib/libercore.la
# The tail scenario: TAIL delivery latency from each event's `time`.
EXTRA_PROGRAMS += bench/tail_latency
bench_tail_latency_SOURCES = bench/tail_latency.c
bench_tail_latency_LDADD = lib/libercore.la
CLEANFILES += $(EXTRA_PROGRAMS)
# The no-op handler of the dispatch scenarios.
EXTRA_LTLIBRARIES += bench/noop.la
bench_noop_la_SOURCES = bench/noop_handler.c
bench_noop_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere \
	-export-symbols-regex '^er_plugin_entry$$'
CLEANFILES += bench/noop.la
# The measuring handler of the e2e-latency scenario: publish->handler
# latency from each event's `time` (bench/latency -T sets it).
EXTRA_LTLIBRARIES += bench/latency_handler.la
bench_latency_handler_la_SOURCES = bench/latency_handler.c
bench_latency_handler_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere \
	-export-symbols-regex '^er_plugin_entry$$'
CLEANFILES += bench/latency_handler.la
EXTRA_DIST += bench/run.sh

bench: $(EXTRA_PROGRAMS) bench/noop.la bench/latency_handler.la daemon/eventrouterd tools/eventctl
	ER_BUILDDIR='$(abs_top_builddir)' $(SHELL) $(top_srcdir)/bench/run.sh

.PHONY: bench
