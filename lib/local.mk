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
	lib/uuid.c lib/uuid.h \
	lib/base64.c lib/base64.h \
	lib/json.c \
	lib/client.c \
	lib/conftree.c lib/conftree.h \
	lib/schema.c lib/schema.h \
	lib/evobj.c lib/evobj.h \
	lib/options.c lib/options.h \
	lib/plugdesc.c lib/plugdesc.h \
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
# dependency). Installed as a static library that carries its own copy of
# the core (event objects, options, the YAML loader are internal to
# libeventrouter.so), so a plugin's test links -leventrouter-testing and the
# libraries libeventrouter-testing.pc names, nothing else. Do not link it
# together with libercore.la.
lib_LIBRARIES = lib/libeventrouter-testing.a
ARFLAGS = cr
lib_libeventrouter_testing_a_SOURCES = lib/testing.c lib/eventrouter/testing.h \
	$(lib_libercore_la_SOURCES)
lib_libeventrouter_testing_a_CFLAGS = $(AM_CFLAGS) -fPIC $(MSGPACK_CFLAGS) $(JANSSON_CFLAGS) \
	$(YAML_CFLAGS)
pkgconfig_DATA += lib/libeventrouter.pc lib/libeventrouter-testing.pc

# Made at make time: it names the libraries configure found.
lib/libeventrouter-testing.pc: $(top_srcdir)/lib/libeventrouter-testing.pc.in Makefile
	$(AM_V_GEN)mkdir -p lib && sed -e 's|@prefix[@]|$(prefix)|g' \
	  -e 's|@exec_prefix[@]|$(exec_prefix)|g' -e 's|@libdir[@]|$(libdir)|g' \
	  -e 's|@includedir[@]|$(includedir)|g' -e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' \
	  -e 's|@LIBS_PRIVATE[@]|$(MSGPACK_LIBS) $(JANSSON_LIBS) $(YAML_LIBS) -ldl|g' \
	  $(top_srcdir)/lib/libeventrouter-testing.pc.in > $@
CLEANFILES += lib/libeventrouter-testing.pc
EXTRA_DIST += lib/libeventrouter-testing.pc.in
