# tools/: eventctl, one file per command group, eventctl.h the index.
bin_PROGRAMS += tools/eventctl
tools_eventctl_SOURCES = \
	tools/eventctl.c tools/eventctl.h \
	tools/cmd_ping.c \
	tools/cmd_publish.c \
	tools/cmd_admin.c \
	tools/cmd_store.c \
	tools/cmd_publish_file.c \
	tools/cmd_query.c
tools_eventctl_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tools_eventctl_LDADD = lib/libercore.la
