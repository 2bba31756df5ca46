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
	lib/mpjson.c lib/mpjson.h \
	lib/uuid.c \
	lib/base64.c lib/base64.h \
	lib/json.c \
	lib/client.c \
	lib/conftree.c lib/conftree.h \
	lib/schema.c lib/schema.h \
	lib/evobj.c lib/evobj.h \
	lib/options.c lib/options.h \
	lib/eventrouter/plugin.h
lib_libercore_la_CFLAGS = $(AM_CFLAGS) $(MSGPACK_CFLAGS) $(JANSSON_CFLAGS) $(YAML_CFLAGS)
lib_libercore_la_LIBADD = $(MSGPACK_LIBS) $(JANSSON_LIBS) $(YAML_LIBS)

lib_LTLIBRARIES += lib/libeventrouter.la
lib_libeventrouter_la_SOURCES =
lib_libeventrouter_la_LIBADD = lib/libercore.la
lib_libeventrouter_la_LDFLAGS = $(AM_LDFLAGS) -version-info 0:0:0 -no-undefined

include_HEADERS += lib/eventrouter.h
eventrouterincludedir = $(includedir)/eventrouter
eventrouterinclude_HEADERS = lib/eventrouter/plugin.h lib/eventrouter/testing.h

# The testing kit: a fake host to drive a plugin in a unit test (no Check
# dependency). Installed as a static library.
lib_LIBRARIES = lib/libeventrouter-testing.a
lib_libeventrouter_testing_a_SOURCES = lib/testing.c lib/eventrouter/testing.h
lib_libeventrouter_testing_a_CFLAGS = $(AM_CFLAGS) -fPIC
pkgconfig_DATA += lib/libeventrouter.pc
