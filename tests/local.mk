# tests/: Check units per module (tests/unit), the real daemon over its real
# socket (tests/integration), protocol vectors (tests/vectors) shared with
# every client. `make check` runs them all; ER_TEST_WRAPPER (e.g. valgrind)
# wraps every daemon the integration tests start.
AM_TESTS_ENVIRONMENT = \
	ER_BUILDDIR='$(abs_top_builddir)'; export ER_BUILDDIR; \
	ER_SRCDIR='$(abs_top_srcdir)'; export ER_SRCDIR; \
	CK_DEFAULT_TIMEOUT=60; export CK_DEFAULT_TIMEOUT;

# Shell tests run under the shell; C tests under $(LOG_COMPILER), which
# `make check-valgrind` sets to valgrind.
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = $(SHELL)

if SANITIZERS
AM_TESTS_ENVIRONMENT += ER_TEST_SANITIZED=1; export ER_TEST_SANITIZED;
endif

EXTRA_DIST += tests/vectors tests/integration/lib.sh

if HAVE_CHECK
UNIT_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(MSGPACK_CFLAGS) $(JANSSON_CFLAGS)
UNIT_LDADD = lib/libercore.la $(CHECK_LIBS)
DAEMON_UNIT_LDADD = daemon/liberd.la $(CHECK_LIBS)

UNIT_TESTS = \
	tests/unit/check_mpread \
	tests/unit/check_frame \
	tests/unit/check_event \
	tests/unit/check_proto \
	tests/unit/check_vectors \
	tests/unit/check_json \
	tests/unit/check_conftree \
	tests/unit/check_schema \
	tests/unit/check_config \
	tests/unit/check_log \
	tests/unit/check_options \
	tests/unit/check_router \
	tests/unit/check_dedupe \
	tests/unit/check_track \
	tests/unit/check_workers \
	tests/unit/check_dispatch \
	tests/unit/check_client
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)

tests_unit_check_mpread_SOURCES = tests/unit/check_mpread.c
tests_unit_check_mpread_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_mpread_LDADD = $(UNIT_LDADD)
tests_unit_check_frame_SOURCES = tests/unit/check_frame.c
tests_unit_check_frame_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_frame_LDADD = $(UNIT_LDADD)
tests_unit_check_event_SOURCES = tests/unit/check_event.c
tests_unit_check_event_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_event_LDADD = $(UNIT_LDADD)
tests_unit_check_proto_SOURCES = tests/unit/check_proto.c
tests_unit_check_proto_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_proto_LDADD = $(UNIT_LDADD)
tests_unit_check_vectors_SOURCES = tests/unit/check_vectors.c
tests_unit_check_vectors_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_vectors_LDADD = $(UNIT_LDADD)
tests_unit_check_json_SOURCES = tests/unit/check_json.c
tests_unit_check_json_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_json_LDADD = $(UNIT_LDADD)
tests_unit_check_conftree_SOURCES = tests/unit/check_conftree.c
tests_unit_check_conftree_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_conftree_LDADD = $(UNIT_LDADD)
tests_unit_check_schema_SOURCES = tests/unit/check_schema.c
tests_unit_check_schema_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_schema_LDADD = $(UNIT_LDADD)
tests_unit_check_config_SOURCES = tests/unit/check_config.c
tests_unit_check_config_CFLAGS = $(UNIT_CFLAGS) $(UV_CFLAGS) -I$(top_srcdir)/daemon
tests_unit_check_config_LDADD = $(DAEMON_UNIT_LDADD)
tests_unit_check_log_SOURCES = tests/unit/check_log.c
tests_unit_check_log_CFLAGS = $(UNIT_CFLAGS) $(UV_CFLAGS) -I$(top_srcdir)/daemon
tests_unit_check_log_LDADD = $(DAEMON_UNIT_LDADD)
tests_unit_check_options_SOURCES = tests/unit/check_options.c
tests_unit_check_options_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_options_LDADD = $(UNIT_LDADD) $(JANSSON_LIBS)
tests_unit_check_router_SOURCES = tests/unit/check_router.c
tests_unit_check_router_CFLAGS = $(UNIT_CFLAGS) $(UV_CFLAGS) -I$(top_srcdir)/daemon
tests_unit_check_router_LDADD = $(DAEMON_UNIT_LDADD) $(JANSSON_LIBS)
tests_unit_check_track_SOURCES = tests/unit/check_track.c
tests_unit_check_track_CFLAGS = $(UNIT_CFLAGS) $(UV_CFLAGS) -I$(top_srcdir)/daemon
tests_unit_check_track_LDADD = $(DAEMON_UNIT_LDADD)

tests_unit_check_workers_SOURCES = tests/unit/check_workers.c
tests_unit_check_workers_CFLAGS = $(UNIT_CFLAGS) $(UV_CFLAGS) -I$(top_srcdir)/daemon -I$(top_srcdir)/lib
tests_unit_check_workers_LDADD = $(DAEMON_UNIT_LDADD)

tests_unit_check_dedupe_SOURCES = tests/unit/check_dedupe.c
tests_unit_check_dedupe_CFLAGS = $(UNIT_CFLAGS) $(UV_CFLAGS) -I$(top_srcdir)/daemon
tests_unit_check_dedupe_LDADD = $(DAEMON_UNIT_LDADD)
tests_unit_check_dispatch_SOURCES = tests/unit/check_dispatch.c
tests_unit_check_dispatch_CFLAGS = $(UNIT_CFLAGS) $(UV_CFLAGS) -I$(top_srcdir)/daemon
tests_unit_check_dispatch_LDADD = $(DAEMON_UNIT_LDADD) $(JANSSON_LIBS)
tests_unit_check_client_SOURCES = tests/unit/check_client.c
tests_unit_check_client_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_client_LDADD = $(UNIT_LDADD) $(JANSSON_LIBS) -lpthread

# Integration: the real eventrouterd and eventctl over the real socket.
INTEGRATION_C = \
	tests/integration/itest_publish \
	tests/integration/itest_shutdown \
	tests/integration/itest_hostile \
	tests/integration/itest_vectors \
	tests/integration/itest_store \
	tests/integration/itest_store_bad \
	tests/integration/itest_crash \
	tests/integration/itest_dlq \
	tests/integration/itest_delivery \
	tests/integration/itest_reload \
	tests/integration/itest_query
check_PROGRAMS += $(INTEGRATION_C)
TESTS += $(INTEGRATION_C)
ITEST_SOURCES = tests/integration/harness.c tests/integration/harness.h
# The delivery engine's tests: the admin socket's JSON (Check, jansson).
ITEST_ADMIN_SOURCES = tests/integration/itest_admin.c tests/integration/itest_admin.h
tests_integration_itest_publish_SOURCES = tests/integration/itest_publish.c $(ITEST_SOURCES)
tests_integration_itest_publish_CFLAGS = $(UNIT_CFLAGS)
tests_integration_itest_publish_LDADD = $(UNIT_LDADD)
tests_integration_itest_store_SOURCES = tests/integration/itest_store.c $(ITEST_SOURCES)
tests_integration_itest_store_CFLAGS = $(UNIT_CFLAGS)
tests_integration_itest_store_LDADD = $(UNIT_LDADD)
tests_integration_itest_store_bad_SOURCES = tests/integration/itest_store_bad.c $(ITEST_SOURCES)
tests_integration_itest_store_bad_CFLAGS = $(UNIT_CFLAGS)
tests_integration_itest_store_bad_LDADD = $(UNIT_LDADD)
tests_integration_itest_crash_SOURCES = tests/integration/itest_crash.c $(ITEST_SOURCES) \
	$(STORETEST_SRC)
tests_integration_itest_crash_CFLAGS = $(STORETEST_FLAGS)
tests_integration_itest_crash_LDADD = $(STORETEST_LIBS)
tests_integration_itest_dlq_SOURCES = tests/integration/itest_dlq.c $(ITEST_SOURCES) \
	$(STORETEST_SRC)
tests_integration_itest_dlq_CFLAGS = $(STORETEST_FLAGS)
tests_integration_itest_dlq_LDADD = $(STORETEST_LIBS) $(JANSSON_LIBS)
# Catch-up, SIGKILL and clean restarts against what the log handler wrote;
# cursors read back through the lmdb plugin (the store test harness).
tests_integration_itest_delivery_SOURCES = tests/integration/itest_delivery.c $(ITEST_SOURCES) \
	$(ITEST_ADMIN_SOURCES) \
	$(STORETEST_SRC)
tests_integration_itest_delivery_CFLAGS = $(STORETEST_FLAGS)
tests_integration_itest_delivery_LDADD = $(STORETEST_LIBS) $(JANSSON_LIBS)
# 20 reloads while a thread publishes, checked against the log handlers'
# files and the store (read through the lmdb plugin).
tests_integration_itest_reload_SOURCES = tests/integration/itest_reload.c $(ITEST_SOURCES) \
	$(ITEST_ADMIN_SOURCES) \
	$(STORETEST_SRC)
tests_integration_itest_reload_CFLAGS = $(STORETEST_FLAGS)
tests_integration_itest_reload_LDADD = $(STORETEST_LIBS) $(JANSSON_LIBS) -lpthread
# QUERY frame by frame on the admin socket, and er_query.
tests_integration_itest_query_SOURCES = tests/integration/itest_query.c $(ITEST_SOURCES) \
	$(ITEST_ADMIN_SOURCES)
tests_integration_itest_query_CFLAGS = $(UNIT_CFLAGS)
tests_integration_itest_query_LDADD = $(UNIT_LDADD) $(JANSSON_LIBS)
tests_integration_itest_shutdown_SOURCES = tests/integration/itest_shutdown.c $(ITEST_SOURCES)
tests_integration_itest_shutdown_CFLAGS = $(UNIT_CFLAGS)
tests_integration_itest_shutdown_LDADD = $(UNIT_LDADD)
tests_integration_itest_hostile_SOURCES = tests/integration/itest_hostile.c $(ITEST_SOURCES)
tests_integration_itest_hostile_CFLAGS = $(UNIT_CFLAGS)
tests_integration_itest_hostile_LDADD = $(UNIT_LDADD) $(MSGPACK_LIBS)
tests_integration_itest_vectors_SOURCES = tests/integration/itest_vectors.c $(ITEST_SOURCES)
tests_integration_itest_vectors_CFLAGS = $(UNIT_CFLAGS)
tests_integration_itest_vectors_LDADD = $(UNIT_LDADD) $(JANSSON_LIBS)

# The plugin loader against tests/plugins/bad.mk's purpose-built plugins.
check_PROGRAMS += tests/unit/check_loader
TESTS += tests/unit/check_loader
tests_unit_check_loader_SOURCES = tests/unit/check_loader.c
tests_unit_check_loader_CFLAGS = $(UNIT_CFLAGS) $(UV_CFLAGS) -I$(top_srcdir)/daemon
tests_unit_check_loader_LDADD = $(DAEMON_UNIT_LDADD)

# The host table and event objects, on a real loop.
check_PROGRAMS += tests/unit/check_host
TESTS += tests/unit/check_host
tests_unit_check_host_SOURCES = tests/unit/check_host.c
tests_unit_check_host_CFLAGS = $(UNIT_CFLAGS) $(UV_CFLAGS) -I$(top_srcdir)/daemon
tests_unit_check_host_LDADD = $(DAEMON_UNIT_LDADD) -lpthread

# The host's publish against a fake publisher, from the loop and from
# other threads.
check_PROGRAMS += tests/unit/check_publish
TESTS += tests/unit/check_publish
tests_unit_check_publish_SOURCES = tests/unit/check_publish.c
tests_unit_check_publish_CFLAGS = $(UNIT_CFLAGS) $(UV_CFLAGS) -I$(top_srcdir)/daemon
tests_unit_check_publish_LDADD = $(DAEMON_UNIT_LDADD) -lpthread

# The plugin testing kit, linked as a plugin's test links it.
check_PROGRAMS += tests/unit/check_testing
TESTS += tests/unit/check_testing
tests_unit_check_testing_SOURCES = tests/unit/check_testing.c
tests_unit_check_testing_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_testing_LDADD = lib/libeventrouter-testing.a $(CHECK_LIBS) $(MSGPACK_LIBS) \
	$(JANSSON_LIBS) $(YAML_LIBS) -ldl -lpthread
endif

INTEGRATION_SH = \
	tests/integration/test_check_config.sh \
	tests/integration/test_eventctl.sh \
	tests/integration/test_daemon.sh \
	tests/integration/test_routing.sh \
	tests/integration/test_dispatch.sh \
	tests/integration/test_delivery.sh \
	tests/integration/test_reload.sh \
	tests/integration/test_dropin.sh \
	tests/integration/test_blocking.sh \
	tests/integration/test_poison.sh \
	tests/integration/test_store_maint.sh \
	tests/integration/test_reload_inplace.sh \
	tests/integration/test_query.sh \
	tests/integration/test_acl.sh \
	tests/integration/test_retention.sh \
	tests/integration/test_publish_plugin.sh \
	tests/integration/test_man.sh
# The sample handler built out of tree against a staged `make install`.
INTEGRATION_SH += tests/integration/test_example.sh
# The Node.js client (clients/node): its vectors and node --test suite
# against the daemon. Its sources go into the tarball, not node_modules/
# or dist/ (test_node.sh builds in the build tree).
INTEGRATION_SH += tests/integration/test_node.sh
EXTRA_DIST += clients/node/package.json clients/node/package-lock.json \
	clients/node/tsconfig.json clients/node/README.md clients/node/.gitignore \
	clients/node/stage.sh clients/node/src clients/node/test
# The node scenario of bench/run.sh.
EXTRA_DIST += bench/node_publish.mjs
# The package's build-tree copy (stage.sh: sources, dist/, node_modules/).
clean-local: clean-local-node
.PHONY: clean-local-node
clean-local-node:
	-rm -rf clients/node
EXTRA_DIST += examples/handler examples/publisher
TESTS += $(INTEGRATION_SH)
EXTRA_DIST += $(INTEGRATION_SH)
