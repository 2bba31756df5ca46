# man/: hand-written mdoc pages, linted with mandoc -Tlint by `make check`.
dist_man_MANS += \
	man/eventrouterd.8 \
	man/eventctl.1 \
	man/eventrouter.yaml.5 \
	man/eventrouter-protocol.7 \
	man/eventrouter-plugin.7
