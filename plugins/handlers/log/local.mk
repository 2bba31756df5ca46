# plugins/handlers/log/: the `log` handler (JSON lines to a file or stdout),
# a libtool module installed as $(libdir)/eventrouter/handlers/log.so. It
# links the core statically (for the JSON shape) and exports nothing but
# er_plugin_entry. Its test drives it through the testing kit.
logpluginsdir = $(libdir)/eventrouter/handlers
logplugins_LTLIBRARIES = plugins/handlers/log/log.la
plugins_handlers_log_log_la_SOURCES = plugins/handlers/log/log.c
plugins_handlers_log_log_la_CFLAGS = $(AM_CFLAGS)
plugins_handlers_log_log_la_LDFLAGS = -module -avoid-version -shared \
	-export-symbols-regex '^er_plugin_entry$$'
plugins_handlers_log_log_la_LIBADD = lib/libercore.la

if HAVE_CHECK
check_PROGRAMS += plugins/handlers/log/test_log
TESTS += plugins/handlers/log/test_log
plugins_handlers_log_test_log_SOURCES = plugins/handlers/log/test_log.c
plugins_handlers_log_test_log_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
plugins_handlers_log_test_log_LDADD = lib/libeventrouter-testing.a $(CHECK_LIBS) \
	$(MSGPACK_LIBS) $(JANSSON_LIBS) $(YAML_LIBS) -ldl
endif
