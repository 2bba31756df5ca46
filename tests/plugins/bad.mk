# tests/plugins/bad.mk: the loader's purpose-built plugins. good.so is a
# correct handler; each bad_*.so breaks exactly one rule the loader checks
# (tests/unit/check_loader.c asserts the refusal each one gets). Libtool
# modules like real plugins; -rpath makes the noinst library a real shared
# object. Built only with the unit tests.
if HAVE_CHECK
LOADER_PLUGIN_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
LOADER_PLUGINS = tests/plugins/good.la
LOADER_PLUGINS += tests/plugins/bad_magic.la
LOADER_PLUGINS += tests/plugins/bad_major.la
LOADER_PLUGINS += tests/plugins/bad_minor.la
LOADER_PLUGINS += tests/plugins/bad_size.la
LOADER_PLUGINS += tests/plugins/bad_nosym.la
LOADER_PLUGINS += tests/plugins/bad_undef.la
LOADER_PLUGINS += tests/plugins/bad_kind.la
LOADER_PLUGINS += tests/plugins/bad_noname.la
LOADER_PLUGINS += tests/plugins/bad_noops.la
LOADER_PLUGINS += tests/plugins/bad_nohandle.la
LOADER_PLUGINS += tests/plugins/bad_opsize.la
LOADER_PLUGINS += tests/plugins/bad_options.la
noinst_LTLIBRARIES += $(LOADER_PLUGINS)
tests_plugins_good_la_SOURCES = tests/plugins/good.c tests/plugins/bad_common.h
tests_plugins_good_la_LDFLAGS = $(LOADER_PLUGIN_LDFLAGS)
tests_plugins_bad_magic_la_SOURCES = tests/plugins/bad_magic.c tests/plugins/bad_common.h
tests_plugins_bad_magic_la_LDFLAGS = $(LOADER_PLUGIN_LDFLAGS)
tests_plugins_bad_major_la_SOURCES = tests/plugins/bad_major.c tests/plugins/bad_common.h
tests_plugins_bad_major_la_LDFLAGS = $(LOADER_PLUGIN_LDFLAGS)
tests_plugins_bad_minor_la_SOURCES = tests/plugins/bad_minor.c tests/plugins/bad_common.h
tests_plugins_bad_minor_la_LDFLAGS = $(LOADER_PLUGIN_LDFLAGS)
tests_plugins_bad_size_la_SOURCES = tests/plugins/bad_size.c tests/plugins/bad_common.h
tests_plugins_bad_size_la_LDFLAGS = $(LOADER_PLUGIN_LDFLAGS)
tests_plugins_bad_nosym_la_SOURCES = tests/plugins/bad_nosym.c tests/plugins/bad_common.h
tests_plugins_bad_nosym_la_LDFLAGS = $(LOADER_PLUGIN_LDFLAGS)
tests_plugins_bad_undef_la_SOURCES = tests/plugins/bad_undef.c tests/plugins/bad_common.h
tests_plugins_bad_undef_la_LDFLAGS = $(LOADER_PLUGIN_LDFLAGS)
tests_plugins_bad_kind_la_SOURCES = tests/plugins/bad_kind.c tests/plugins/bad_common.h
tests_plugins_bad_kind_la_LDFLAGS = $(LOADER_PLUGIN_LDFLAGS)
tests_plugins_bad_noname_la_SOURCES = tests/plugins/bad_noname.c tests/plugins/bad_common.h
tests_plugins_bad_noname_la_LDFLAGS = $(LOADER_PLUGIN_LDFLAGS)
tests_plugins_bad_noops_la_SOURCES = tests/plugins/bad_noops.c tests/plugins/bad_common.h
tests_plugins_bad_noops_la_LDFLAGS = $(LOADER_PLUGIN_LDFLAGS)
tests_plugins_bad_nohandle_la_SOURCES = tests/plugins/bad_nohandle.c tests/plugins/bad_common.h
tests_plugins_bad_nohandle_la_LDFLAGS = $(LOADER_PLUGIN_LDFLAGS)
tests_plugins_bad_opsize_la_SOURCES = tests/plugins/bad_opsize.c tests/plugins/bad_common.h
tests_plugins_bad_opsize_la_LDFLAGS = $(LOADER_PLUGIN_LDFLAGS)
tests_plugins_bad_options_la_SOURCES = tests/plugins/bad_options.c tests/plugins/bad_common.h
tests_plugins_bad_options_la_LDFLAGS = $(LOADER_PLUGIN_LDFLAGS)
# A store as ABI 1.2 built it (no used_bytes): check_config refuses
# store.retention.max_bytes with it.
LOADER_PLUGINS += tests/plugins/store_v12.la
tests_plugins_store_v12_la_SOURCES = tests/plugins/store_v12.c
tests_plugins_store_v12_la_LDFLAGS = $(LOADER_PLUGIN_LDFLAGS)
endif
