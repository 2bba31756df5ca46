# plugins/stores/lmdb/: the `lmdb` store (the default), a libtool module
# installed as $(libdir)/eventrouter/stores/lmdb.so. It links the core
# statically, compiles in the loop mailbox (lib/mailbox.c: it needs libuv,
# so it is not part of the core libeventrouter.so is made of) and links
# LMDB; it exports nothing but er_plugin_entry. Its Check test drives it
# through the daemon's real host and loader (tests/store/storetest.c) for
# what only lmdb does; the store conformance suite in tests/store/ runs
# against it too.
lmdbpluginsdir = $(libdir)/eventrouter/stores
lmdbplugins_LTLIBRARIES = plugins/stores/lmdb/lmdb.la
plugins_stores_lmdb_lmdb_la_SOURCES = plugins/stores/lmdb/lmdb.c lib/mailbox.c lib/mailbox.h
plugins_stores_lmdb_lmdb_la_CFLAGS = $(AM_CFLAGS) $(LMDB_CFLAGS) $(UV_CFLAGS)
plugins_stores_lmdb_lmdb_la_LDFLAGS = -module -avoid-version -shared \
	-export-symbols-regex '^er_plugin_entry$$'
plugins_stores_lmdb_lmdb_la_LIBADD = lib/libercore.la $(LMDB_LIBS) $(UV_LIBS) -lpthread

if HAVE_CHECK
check_PROGRAMS += plugins/stores/lmdb/check_lmdb
TESTS += plugins/stores/lmdb/check_lmdb
plugins_stores_lmdb_check_lmdb_SOURCES = plugins/stores/lmdb/check_lmdb.c $(STORETEST_SRC)
plugins_stores_lmdb_check_lmdb_CFLAGS = $(STORETEST_FLAGS) $(LMDB_CFLAGS)
plugins_stores_lmdb_check_lmdb_LDADD = $(STORETEST_LIBS) $(LMDB_LIBS)
endif
