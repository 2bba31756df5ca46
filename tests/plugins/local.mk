# tests/plugins/: plugins built for the daemon's own tests (not installed).
# test_handler.so is a minimal handler with an option of every type; tests
# load it by absolute path ($ER_BUILDDIR/tests/plugins/.libs/test_handler.so)
# or through $EVENTROUTER_PLUGIN_PATH. A libtool module: -rpath makes the
# noinst library a real shared object, and only er_plugin_entry is exported.
noinst_LTLIBRARIES += tests/plugins/test_handler.la
tests_plugins_test_handler_la_SOURCES = tests/plugins/test_handler.c
tests_plugins_test_handler_la_CFLAGS = $(AM_CFLAGS)
tests_plugins_test_handler_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere \
	-export-symbols-regex '^er_plugin_entry$$'

# test_blocking.so: a blocking handler (ER_PLUGIN_BLOCKING) that sleeps on
# request, for the worker-thread tests.
noinst_LTLIBRARIES += tests/plugins/test_blocking.la
tests_plugins_test_blocking_la_SOURCES = tests/plugins/test_blocking.c
tests_plugins_test_blocking_la_CFLAGS = $(AM_CFLAGS)
tests_plugins_test_blocking_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere \
	-export-symbols-regex '^er_plugin_entry$$'

# test_crash.so: raises SIGSEGV on events of type Poison (poison events).
noinst_LTLIBRARIES += tests/plugins/test_crash.la
tests_plugins_test_crash_la_SOURCES = tests/plugins/test_crash.c
tests_plugins_test_crash_la_CFLAGS = $(AM_CFLAGS)
tests_plugins_test_crash_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere \
	-export-symbols-regex '^er_plugin_entry$$'
