# daemon/: eventrouterd. All but main.c is a convenience library so unit
# tests can link the daemon's modules.
noinst_LTLIBRARIES += daemon/liberd.la
daemon_liberd_la_SOURCES = \
	daemon/log.c daemon/log.h \
	daemon/config.c daemon/config.h \
	daemon/server.c daemon/server.h \
	daemon/ingest.c daemon/ingest.h
daemon_liberd_la_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(YAML_CFLAGS)
daemon_liberd_la_LIBADD = lib/libercore.la $(UV_LIBS)

sbin_PROGRAMS += daemon/eventrouterd
daemon_eventrouterd_SOURCES = daemon/main.c
daemon_eventrouterd_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS)
daemon_eventrouterd_LDADD = daemon/liberd.la
