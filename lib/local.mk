# lib/: libeventrouter. Everything is compiled once into the noinst
# convenience library libercore.la, which the daemon, eventctl and the tests
# link (so build-tree binaries are real executables, not libtool wrappers);
# the installed libeventrouter.so is the same objects, exporting only ER_EXTERN.
noinst_LTLIBRARIES += lib/libercore.la
lib_libercore_la_SOURCES = \
	lib/eventrouter.h \
	lib/error.c \
	lib/buf.c lib/buf.h \
	lib/mpread.c lib/mpread.h \
	lib/frame.c lib/frame.h \
	lib/event.c \
	lib/proto.c lib/proto.h \
	lib/uuid.c \
	lib/base64.c lib/base64.h \
	lib/json.c \
	lib/client.c \
	lib/conftree.c lib/conftree.h \
	lib/schema.c lib/schema.h
lib_libercore_la_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS) $(JANSSON_CFLAGS) $(YAML_CFLAGS)
lib_libercore_la_LIBADD = $(MSGPACK_LIBS) $(JANSSON_LIBS) $(YAML_LIBS)

lib_LTLIBRARIES += lib/libeventrouter.la
lib_libeventrouter_la_SOURCES =
lib_libeventrouter_la_LIBADD = lib/libercore.la
lib_libeventrouter_la_LDFLAGS = $(AM_LDFLAGS) -version-info 0:0:0 -no-undefined

include_HEADERS += lib/eventrouter.h
pkgconfig_DATA += lib/libeventrouter.pc
