# plugins/stores/memory/: the `memory` store (events, cursors, dead letters
# and state in memory, lost with the process: for tests and benchmarks), a
# libtool module installed as $(libdir)/eventrouter/stores/memory.so that
# exports nothing but er_plugin_entry. It needs nothing of the core but the
# plugin header. Its tests are the store conformance suite
# (tests/store/check_store_conformance).
memorypluginsdir = $(libdir)/eventrouter/stores
memoryplugins_LTLIBRARIES = plugins/stores/memory/memory.la
plugins_stores_memory_memory_la_SOURCES = plugins/stores/memory/memory.c
plugins_stores_memory_memory_la_CFLAGS = $(AM_CFLAGS)
plugins_stores_memory_memory_la_LDFLAGS = -module -avoid-version -shared \
	-export-symbols-regex '^er_plugin_entry$$'
