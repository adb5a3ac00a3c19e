# culvert — tun/tap toolkit and tunnel daemon.
# make | make check | make check-unit | make demo | make bench | make bench-flood | make profile
# make install [PREFIX= DESTDIR= BINDIR= LIBDIR= DATADIR= MANDIR= UNITDIR=] | V=1 for commands

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
UNITDIR    ?= $(PREFIX)/lib/systemd/system
# The one place the version is written: culvert --version, culvert-wg --version, the man
# pages' headers and libculvert.pc take it from here (debian/changelog must agree).
VERSION    := 0.1.0

CC      ?= cc
FUZZCC  ?= clang
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wno-unused-parameter
CPPFLAGS += -D_GNU_SOURCE -DCULVERT_VERSION='"$(VERSION)"' -Isrc
DEPFLAGS = -MMD -MP
LDLIBS  := -lmnl -lcrypto -lseccomp
ASAN    := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
TSAN    := -fsanitize=thread -fno-omit-frame-pointer

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

B ?= build
LIB_SRC  := $(sort $(wildcard src/lib/*.c src/wire/*.c src/wg/*.c src/engine/*.c))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
PEER_SRC := $(sort $(wildcard tests/peers/*.c))
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
LIB_HDR  := $(sort $(wildcard src/lib/*.h))

LIB_OBJ  := $(LIB_SRC:%.c=$(B)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(B)/obj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
PEER_BIN := $(PEER_SRC:tests/peers/%.c=$(B)/peers/%)
ASAN_LIB_OBJ := $(LIB_SRC:%.c=$(B)/asan/obj/%.o)
ASAN_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/asan/tests/%)
TSAN_LIB_OBJ := $(LIB_SRC:%.c=$(B)/tsan/obj/%.o)
TSAN_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tsan/tests/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(B)/fuzz/obj/%.o)
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=$(B)/fuzz/%)

.PHONY: all check check-unit unit asan tsan fuzz tests demo bench bench-flood profile install uninstall clean deps-build deps-test deps-profile
all: $(B)/culvert $(B)/libculvert.a

$(B)/obj/%.o: %.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(DEPFLAGS) -c -o $@ $<

$(B)/asan/obj/%.o: %.c
	$(call msg,CC-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -O1 -g $(ASAN) $(WARN) $(DEPFLAGS) -c -o $@ $<

$(B)/tsan/obj/%.o: %.c
	$(call msg,CC-TSAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -O1 -g $(TSAN) $(WARN) $(DEPFLAGS) -c -o $@ $<

$(B)/fuzz/obj/%.o: %.c
	$(call msg,CC-FUZZ,$@)
	@mkdir -p $(@D)
	$(Q)$(FUZZCC) $(CPPFLAGS) -O1 -g -fsanitize=fuzzer-no-link,address,undefined $(DEPFLAGS) -c -o $@ $<

$(B)/libculvert.a: $(LIB_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/asan/libculvert.a: $(ASAN_LIB_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/tsan/libculvert.a: $(TSAN_LIB_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/fuzz/libculvert.a: $(FUZZ_LIB_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/culvert: $(CLI_OBJ) $(B)/libculvert.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(B)/libculvert.a $(LDLIBS)

# The CLI's parsers are unit-tested too: those tests (UNIT_CLI) link the subcommands' objects,
# all but main's, as an archive before the library.
UNIT_CLI := test_wg_args test_cli_util
CLI_LIB_SRC := $(filter-out src/cli/culvert.c,$(CLI_SRC))
$(B)/libculvert-cli.a: $(CLI_LIB_SRC:%.c=$(B)/obj/%.o)
	$(Q)rm -f $@ && ar rcs $@ $^
$(B)/asan/libculvert-cli.a: $(CLI_LIB_SRC:%.c=$(B)/asan/obj/%.o)
	$(Q)rm -f $@ && ar rcs $@ $^
$(B)/tsan/libculvert-cli.a: $(CLI_LIB_SRC:%.c=$(B)/tsan/obj/%.o)
	$(Q)rm -f $@ && ar rcs $@ $^
$(UNIT_CLI:%=$(B)/tests/%): $(B)/libculvert-cli.a
$(UNIT_CLI:%=$(B)/asan/tests/%): $(B)/asan/libculvert-cli.a
$(UNIT_CLI:%=$(B)/tsan/tests/%): $(B)/tsan/libculvert-cli.a

$(B)/tests/%: tests/unit/%.c $(B)/libculvert.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes $(DEPFLAGS) $(LDFLAGS) -o $@ $< $(filter %-cli.a,$^) $(B)/libculvert.a -lcmocka $(LDLIBS)

$(B)/asan/tests/%: tests/unit/%.c $(B)/asan/libculvert.a
	$(call msg,LD-ASAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -O1 -g $(ASAN) $(WARN) -Wno-missing-prototypes $(DEPFLAGS) -o $@ $< $(filter %-cli.a,$^) $(B)/asan/libculvert.a -lcmocka $(LDLIBS)

$(B)/tsan/tests/%: tests/unit/%.c $(B)/tsan/libculvert.a
	$(call msg,LD-TSAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -O1 -g $(TSAN) $(WARN) -Wno-missing-prototypes $(DEPFLAGS) -o $@ $< $(filter %-cli.a,$^) $(B)/tsan/libculvert.a -lcmocka $(LDLIBS)

# icmp_pipe drives the ICMP transport's own code, so it links the library.
$(B)/peers/icmp_pipe: tests/peers/icmp_pipe.c $(B)/libculvert.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -O2 -g $(WARN) -o $@ $< $(B)/libculvert.a $(LDLIBS)

$(B)/peers/%: tests/peers/%.c
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -O2 -g -w -o $@ $<

# the flooder speaks the cookie exchange through the project's own MAC and cookie code
$(B)/peers/wg_flood: tests/peers/wg_flood.c $(B)/libculvert.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -O2 -g $(WARN) -o $@ $< $(B)/libculvert.a $(LDLIBS)

$(B)/fuzz/%: fuzz/%.c $(B)/fuzz/libculvert.a
	$(call msg,LD-FUZZ,$@)
	@mkdir -p $(@D)
	$(Q)$(FUZZCC) $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined $(DEPFLAGS) -o $@ $< $(B)/fuzz/libculvert.a $(LDLIBS)

unit: $(UNIT_BIN)
asan: $(ASAN_BIN)
tsan: $(TSAN_BIN)
fuzz: $(FUZZ_BIN)
tests: all unit asan tsan fuzz $(PEER_BIN)

deps-build:
	@sh mk/deps.sh build
deps-test:
	@sh mk/deps.sh test
deps-profile:
	@sh mk/deps.sh profile

# The README's test command: packages, build, unit + ASan/UBSan unit + TSan unit + fuzz smoke +
# end-to-end.
check: deps-test
	$(Q)$(MAKE) --no-print-directory tests
	@B=$(B) bash tests/run.sh

# The unit tests alone: no root, no network, no packages installed (the Debian package's
# build runs this).
check-unit:
	$(Q)$(MAKE) --no-print-directory unit
	@B=$(B) bash tests/run.sh unit

demo: deps-test
	$(Q)$(MAKE) --no-print-directory all
	@B=$(B) bash tests/demo.sh

bench: deps-test
	$(Q)$(MAKE) --no-print-directory all $(PEER_BIN) $(B)/relay_floor
	@B=$(B) bash bench/run.sh

# culvert wg and wireguard-go as the responder under one handshake flood, side by side; its own
# target, not a row of make bench: the flooder takes a whole core for a minute, which would skew
# the tunnels measured beside it, and it needs a third namespace peers.sh does not have.
bench-flood: deps-test
	$(Q)$(MAKE) --no-print-directory all $(B)/peers/wg_flood
	@B=$(B) bash bench/flood.sh

# Where the time goes: perf profile of culvert-wg under one TCP stream, the AEAD's per-packet
# cost, idle RTT against ping interval; writes bench/profile.md.
profile: deps-profile
	$(Q)$(MAKE) --no-print-directory all $(B)/aead_bench $(B)/relay_floor
	@B=$(B) bash bench/profile.sh

# the least a userspace tun <-> UDP relay can do, for the RTT floor in make bench
$(B)/relay_floor: bench/relay_floor.c
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -o $@ $<

# the tap-mode switch's cost per frame, one table shared by threads (see bench/fdb_bench.c)
$(B)/fdb_bench: bench/fdb_bench.c $(B)/libculvert.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(B)/libculvert.a $(LDLIBS) -lpthread

$(B)/aead_bench: bench/aead_bench.c $(B)/libculvert.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(B)/libculvert.a $(LDLIBS)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/culvert $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR)/culvert/systemd
	install -m 755 $(B)/culvert $(DESTDIR)$(BINDIR)/culvert
	ln -sf culvert $(DESTDIR)$(BINDIR)/culvert-wg
	install -m 644 $(B)/libculvert.a $(DESTDIR)$(LIBDIR)/libculvert.a
	install -m 644 $(LIB_HDR) $(DESTDIR)$(INCLUDEDIR)/culvert/
	install -m 644 mk/culvert.h $(DESTDIR)$(INCLUDEDIR)/culvert.h
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|' \
		mk/libculvert.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/libculvert.pc
	for m in $(wildcard man/*.8); do \
		sed '1s/"culvert" /"culvert $(VERSION)" /' $$m > $(DESTDIR)$(MANDIR)/man8/$${m#man/} || exit 1; done
	for u in $(wildcard systemd/*.service.in); do \
		sed 's|@BINDIR@|$(BINDIR)|g' $$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u .in) || exit 1; done
	sed 's|@DATADIR@|$(DATADIR)|g' systemd/icmp.conf.in > $(DESTDIR)$(DATADIR)/culvert/systemd/icmp.conf

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/culvert $(DESTDIR)$(BINDIR)/culvert-wg $(DESTDIR)$(LIBDIR)/libculvert.a \
	      $(DESTDIR)$(INCLUDEDIR)/culvert.h $(DESTDIR)$(PKGCONFIGDIR)/libculvert.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/culvert
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(wildcard man/*.8)))
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(basename $(wildcard systemd/*.service.in))))
	rm -rf $(DESTDIR)$(DATADIR)/culvert

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
