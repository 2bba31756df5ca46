# tests/store/: the store test harness and the conformance suite every
# store plugin passes. The harness (storetest.c) runs a store plugin through
# the daemon's real loader and host table on a real loop, with synchronous
# wrappers for every operation; a store's own Check test links it the same
# way the suite does:
#
#   X_SOURCES = x.c $(STORETEST_SRC)
#   X_CFLAGS  = $(STORETEST_FLAGS)
#   X_LDADD   = $(STORETEST_LIBS)
#
# and includes "storetest.h". (The variables do not end in _SOURCES or
# _LDADD: automake wants such names to belong to a program.)
STORETEST_SRC = tests/store/storetest.c tests/store/storetest.h
STORETEST_FLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(MSGPACK_CFLAGS) $(JANSSON_CFLAGS) \
	$(UV_CFLAGS) -I$(top_srcdir)/daemon -I$(top_srcdir)/tests/store
STORETEST_LIBS = daemon/liberd.la $(CHECK_LIBS)

# The conformance suite: the same tests against every store plugin in its
# table (memory, lmdb), loaded from the build tree. ER_STORE_PLUGINS=memory
# narrows a run to the plugins named.
if HAVE_CHECK
check_PROGRAMS += tests/store/check_store_conformance
TESTS += tests/store/check_store_conformance
tests_store_check_store_conformance_SOURCES = tests/store/check_store_conformance.c \
	$(STORETEST_SRC)
tests_store_check_store_conformance_CFLAGS = $(STORETEST_FLAGS)
tests_store_check_store_conformance_LDADD = $(STORETEST_LIBS)
endif
