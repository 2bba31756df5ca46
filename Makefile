# eventrouter — the hand-written wrapper. The real build is autotools
# (configure.ac, Makefile.am), configured out of tree in build/.
#
#   make deps       install the Debian packages that are missing (root), and
#                   the Node.js client's npm packages (clients/node)
#   make            autoreconf + configure + build in build/
#   make run        build, then run the daemon on conf/eventrouter.yaml with
#                   sockets and data under build/run/ (no root needed)
#   make check      build and run every test
#   make check-all  what CI runs: check, then the same suite built with
#                   ASan+UBSan (build-asan/), then every test with the daemon
#                   and the C tests under valgrind, then the fuzzer for 60 s
#   make bench      build and run the benchmark scenarios
#   make fuzz       run the libFuzzer decoder harness (FUZZ_SECONDS=60)
#   make install    install (PREFIX=/usr/local)
#   make distcheck  build a tarball and check it builds and passes
#   make clean      remove build/
BUILD     ?= build
PREFIX    ?= /usr/local
CONFIGURE_FLAGS ?= --enable-developer
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)

DEPS = build-essential autoconf automake libtool pkg-config \
       libuv1-dev libyaml-dev libmsgpack-dev libjansson-dev check \
       liblmdb-dev libxxhash-dev mandoc valgrind clang libclang-rt-14-dev

.PHONY: all deps run check check-all check-asan check-valgrind bench install distcheck clean fuzz

all: $(BUILD)/Makefile
	$(MAKE) -C $(BUILD) -j$(JOBS)

# Makefile.am and the local.mk fragments are followed by automake's own
# rebuild rules in $(BUILD); only a new configure.ac needs autoreconf here.
configure: configure.ac
	autoreconf -fi

$(BUILD)/Makefile: configure
	mkdir -p $(BUILD)
	cd $(BUILD) && ../configure --prefix=$(PREFIX) $(CONFIGURE_FLAGS)

deps:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	else echo "all build dependencies are installed"; fi
	@# The Node.js client: Debian's nodejs and npm unless a node (with its
	@# npm) is there already, e.g. from NodeSource; its packages per the lockfile.
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		echo "node $$(node --version) and npm $$(npm --version) are installed"; \
	else echo "installing: nodejs npm"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; fi
	cd clients/node && npm ci --no-audit --no-fund

run: all
	mkdir -p $(BUILD)/run $(BUILD)/state
	EVENTROUTER_RUNDIR=$(abspath $(BUILD))/run EVENTROUTER_STATEDIR=$(abspath $(BUILD))/state \
	  $(BUILD)/daemon/eventrouterd -c conf/eventrouter.yaml

check: all
	@$(MAKE) -C $(BUILD) -j$(JOBS) check VERBOSE=1; rc=$$?; \
	sh tests/summary.sh $(BUILD) || rc=1; exit $$rc

# Under valgrind, counts shrink (ER_TEST_SCALE), assertions do not; errors
# and definite leaks make the process exit 99, which fails the test.
VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite
VALGRIND_SCALE ?= 0.05

check-valgrind: all
	@$(MAKE) -C $(BUILD) -j$(JOBS) check VERBOSE=1 LOG_COMPILER="$(VALGRIND)" \
	  ER_TEST_WRAPPER="$(VALGRIND)" ER_TEST_SCALE=$(VALGRIND_SCALE); rc=$$?; \
	sh tests/summary.sh $(BUILD) || rc=1; exit $$rc

check-asan:
	@$(MAKE) BUILD=$(BUILD)-asan CONFIGURE_FLAGS="$(CONFIGURE_FLAGS) --enable-sanitizers" check

check-all:
	@start=$$(date +%s); rc=0; \
	for step in check check-asan check-valgrind fuzz; do \
		t0=$$(date +%s); \
		$(MAKE) $$step || rc=1; \
		echo "check-all: $$step took $$(( $$(date +%s) - t0 )) s"; \
	done; \
	echo "check-all: total $$(( $$(date +%s) - start )) s"; \
	sh tests/summary.sh $(BUILD) $(BUILD)-asan || rc=1; \
	exit $$rc

bench: all
	$(MAKE) -C $(BUILD) -j$(JOBS) bench

install: all
	$(MAKE) -C $(BUILD) install

distcheck: $(BUILD)/Makefile
	$(MAKE) -C $(BUILD) distcheck

clean:
	rm -rf $(BUILD)

fuzz: all
	$(MAKE) -C $(BUILD) fuzz
