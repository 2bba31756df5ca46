# daemon/: eventrouterd. All but main.c is a convenience library so unit
# tests can link the daemon's modules.
noinst_LTLIBRARIES += daemon/liberd.la
daemon_liberd_la_SOURCES = \
	daemon/log.c daemon/log.h \
	daemon/config.c daemon/config.h \
	daemon/server.c daemon/server.h \
	daemon/ingest.c daemon/ingest.h \
	daemon/dedupe.c daemon/dedupe.h \
	daemon/store.c daemon/store.h \
	daemon/plugin.c daemon/plugin.h \
	daemon/host.c daemon/host.h \
	daemon/router.c daemon/router.h \
	daemon/track.c daemon/track.h \
	daemon/workers.c daemon/workers.h \
	lib/mailbox.c lib/mailbox.h \
	daemon/dispatch.c daemon/dispatch.h \
	daemon/admin.c daemon/admin.h \
	daemon/reload.c daemon/reload.h \
	daemon/replay.c daemon/replay.h \
	daemon/retention.c daemon/retention.h
daemon_liberd_la_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(YAML_CFLAGS) $(JANSSON_CFLAGS)
daemon_liberd_la_LIBADD = lib/libercore.la $(UV_LIBS) -ldl

sbin_PROGRAMS += daemon/eventrouterd
daemon_eventrouterd_SOURCES = daemon/main.c
daemon_eventrouterd_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS)
daemon_eventrouterd_LDADD = daemon/liberd.la
# The daemon's own symbols stay private: plugins get the host table.
