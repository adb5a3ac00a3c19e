/* tun/tap: user/group parsing, every tun_explain() sentence, and (as root, in a private network
 * namespace) real devices: tun, tap, kernel-picked names, queues, persistence, ownership. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <linux/if_tun.h>

#include "lib/netlink.h"
#include "lib/tun.h"
#include "lib/tun_node.h"

static bool in_netns;

static void need_netns(void)
{
	if (!in_netns)
		skip();
}

static void test_parse_user_group(void **state)
{
	uid_t u = 7;
	gid_t g = 7;
	struct passwd *nobody = getpwnam("nobody");

	assert_true(tun_parse_user("root", &u));
	assert_int_equal(u, 0);
	assert_true(tun_parse_user("4242", &u));
	assert_int_equal(u, 4242);
	assert_true(tun_parse_user("0", &u));
	assert_int_equal(u, 0);
	if (nobody) {
		assert_true(tun_parse_user("nobody", &u));
		assert_int_equal(u, nobody->pw_uid);
	}
	assert_false(tun_parse_user("", &u));
	assert_false(tun_parse_user("-1", &u));
	assert_false(tun_parse_user("4294967295", &u));   /* (uid_t)-1 means "no owner" */
	assert_false(tun_parse_user("99999999999999999999", &u));
	assert_false(tun_parse_user("12abc", &u));
	assert_false(tun_parse_user("no-such-user-cv", &u));
	assert_false(tun_parse_user(NULL, &u));

	assert_true(tun_parse_group("root", &g));
	assert_int_equal(g, 0);
	assert_true(tun_parse_group("4243", &g));
	assert_int_equal(g, 4243);
	assert_false(tun_parse_group("no-such-group-cv", &g));
	assert_false(tun_parse_group("+5", &g));
}

static const char *explain(int err, const char *name, const struct tun_opts *o,
			   const struct tun_info *info, bool exists, uid_t euid, bool in_group)
{
	static char buf[512];
	struct tun_explain_ctx c = { .exists = exists, .info = info, .euid = euid, .in_group = in_group };

	memset(buf, 'x', sizeof(buf));
	return tun_explain_with(err, name, o, &c, buf, sizeof(buf));
}

static void contains(const char *s, const char *needle)
{
	if (!strstr(s, needle))
		fail_msg("'%s' does not contain '%s'", s, needle);
}

static void test_explain(void **state)
{
	struct tun_opts tun = { .mode = TUN_MODE_TUN }, tap = { .mode = TUN_MODE_TAP };
	struct tun_opts mq = { .mode = TUN_MODE_TAP, .multi_queue = true, .queues = 4 };
	struct tun_info owned = { .name = "cv0", .mode = TUN_MODE_TAP, .flags = IFF_TAP | IFF_PERSIST,
				  .owner = 4242, .group = -1, .persist = true };
	struct tun_info grouped = owned, open_dev = owned, mqdev = owned;
	const char *s;
	char small[16];

	grouped.owner = -1;
	grouped.group = 4343;
	open_dev.owner = open_dev.group = -1;
	mqdev.flags |= IFF_MULTI_QUEUE;

	/* EPERM: someone else's persistent device, a group's, or none: needs CAP_NET_ADMIN. */
	s = explain(-EPERM, "cv0", &tap, &owned, true, 1000, false);
	contains(s, "cv0: permission denied");
	contains(s, "owned by uid 4242");
	contains(s, "run as that user or root");
	s = explain(EPERM, "cv0", &tap, &grouped, true, 1000, false);
	contains(s, "owned by group 4343");
	contains(s, "member of that group or root");
	/* The owner matches but the group does not: the group is what blocks. */
	grouped.owner = 1000;
	contains(explain(-EPERM, "cv0", &tap, &grouped, true, 1000, false), "owned by group 4343");
	contains(explain(-EPERM, "cv0", &tap, &open_dev, true, 1000, false), "security module");
	s = explain(-EPERM, "cv0", &tap, NULL, false, 1000, false);
	contains(s, "needs CAP_NET_ADMIN");
	contains(s, "culvert dev add cv0 mode tap user USER");
	s = explain(-EPERM, "cv%d", &tun, NULL, false, 1000, false);
	contains(s, "tun: permission denied: creating a tun device needs CAP_NET_ADMIN");
	contains(s, "culvert dev add NAME mode tun");
	contains(explain(-EPERM, "", &tun, NULL, false, 1000, false), "needs CAP_NET_ADMIN");

	/* EBUSY: attached elsewhere. */
	s = explain(-EBUSY, "cv0", &tap, &owned, true, 4242, false);
	contains(s, "cv0 is already attached by another process");
	contains(s, "multi_queue");
	contains(explain(-EBUSY, "cv0", &mq, &mqdev, true, 0, false), "cv0 is busy");

	/* EINVAL: mode or queue mismatch, not a tun device, bad name. */
	assert_string_equal(explain(-EINVAL, "cv0", &tun, &owned, true, 0, false),
			    "cv0 is a tap device but tun was asked: use mode tap");
	contains(explain(-EINVAL, "cv0", &mq, &owned, true, 0, false), "created without multi_queue");
	contains(explain(-EINVAL, "cv0", &tap, &mqdev, true, 0, false), "created with multi_queue: ask for multi_queue");
	contains(explain(-EINVAL, "lo", &tun, NULL, true, 0, false), "lo exists and is not a tun/tap device");
	contains(explain(-EINVAL, "a/b", &tun, NULL, false, 0, false), "'a/b' is not a valid interface name");
	contains(explain(-EINVAL, "abcdefghijklmnopq", &tun, NULL, false, 0, false), "at most 15 characters");
	tun.queues = 2;
	contains(explain(-EINVAL, "cv1", &tun, NULL, false, 0, false), "2 queues need multi_queue");
	tun.queues = 0;
	mq.queues = TUN_MAX_QUEUES + 1;
	contains(explain(-EINVAL, "cv1", &mq, NULL, false, 0, false), "at most 64 queues");

	/* The device node. */
	s = explain(-ENOENT, "cv0", &tun, NULL, false, 0, false);
	contains(s, "/dev/net/tun is missing");
	contains(s, "load the tun module");
	contains(explain(-ENODEV, "cv0", &tun, NULL, false, 0, false), "load the tun module");
	contains(explain(-EACCES, "cv0", &tun, NULL, false, 0, false), "cannot open /dev/net/tun");
	contains(explain(-E2BIG, "cv0", &mq, &mqdev, true, 0, false), "as many queues");
	contains(explain(-EMFILE, "cv0", &mq, NULL, false, 0, false), "ulimit -n");
	contains(explain(-ENOMEM, "cv0", &tun, NULL, false, 0, false), "cv0: ");

	/* Truncated, still terminated. */
	tun_explain_with(-EPERM, "cv0", &tap, &(struct tun_explain_ctx){ .info = &owned, .euid = 1 },
			 small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_open_tun_tap(void **state)
{
	struct tun_opts o = { .mode = TUN_MODE_TUN, .nonblock = true };
	struct tun_info info;
	char name[IFNAMSIZ];
	int fd, fd2;

	need_netns();
	assert_int_equal(tun_open("cvtun0", &o, name, &fd), 0);
	assert_string_equal(name, "cvtun0");
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(tun_info_get("cvtun0", &info), 0);
	assert_int_equal(info.mode, TUN_MODE_TUN);
	assert_true(info.flags & IFF_TUN);
	assert_true(info.flags & IFF_NO_PI);
	assert_false(info.persist);
	assert_true(info.attached);
	assert_int_equal(info.owner, -1);
	assert_int_equal(info.ifindex, nl_link_index("cvtun0"));

	/* A single-queue device takes one reader. */
	assert_int_equal(tun_open("cvtun0", &o, name, &fd2), -EBUSY);
	close(fd);
	assert_int_equal(tun_info_get("cvtun0", &info), -ENODEV);   /* not persistent: gone */

	o.mode = TUN_MODE_TAP;
	o.pi = true;
	o.vnet_hdr = true;
	o.nonblock = false;
	assert_int_equal(tun_open("cvtap0", &o, name, &fd), 0);
	assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_int_equal(tun_info_get("cvtap0", &info), 0);
	assert_int_equal(info.mode, TUN_MODE_TAP);
	assert_false(info.flags & IFF_NO_PI);
	assert_true(info.flags & IFF_VNET_HDR);
	assert_int_equal(tun_set_vnet_hdr_len(fd, 12), 0);
	assert_int_equal(tun_set_vnet_hdr_len(fd, 2), -EINVAL);
	assert_int_equal(tun_set_offload(fd, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6), 0);
	assert_int_equal(tun_set_offload(fd, 0x80000000u), -EINVAL);
	close(fd);

	/* tun_info_get() refuses what is not tun/tap. */
	assert_int_equal(tun_info_get("lo", &info), -ENODEV);
	assert_int_equal(tun_open("this-name-is-far-too-long", &o, name, &fd), -EINVAL);
}

static void test_kernel_name_and_alloc(void **state)
{
	struct tun_opts o = { .mode = TUN_MODE_TAP };
	char a[IFNAMSIZ], b[IFNAMSIZ], t[IFNAMSIZ] = "";
	int fa, fb, ft;

	need_netns();
	assert_int_equal(tun_open("cvk%d", &o, a, &fa), 0);
	assert_int_equal(tun_open("cvk%d", &o, b, &fb), 0);
	assert_int_equal(strncmp(a, "cvk", 3), 0);
	assert_int_equal(strncmp(b, "cvk", 3), 0);
	assert_string_not_equal(a, b);
	assert_true(nl_link_index(a) > 0 && nl_link_index(b) > 0);
	close(fa);
	close(fb);
	assert_int_equal(tun_open("", &o, a, &fa), 0);
	assert_int_equal(strncmp(a, "tap", 3), 0);
	close(fa);

	/* The tutorial's call: empty name in, the kernel's name out. */
	ft = tun_alloc(t, IFF_TUN | IFF_NO_PI);
	assert_true(ft >= 0);
	assert_int_equal(strncmp(t, "tun", 3), 0);
	assert_true(nl_link_index(t) > 0);
	close(ft);
	strcpy(t, "lo");
	assert_int_equal(tun_alloc(t, IFF_TUN), -EINVAL);
}

static void test_multi_queue(void **state)
{
	struct tun_opts o = { .mode = TUN_MODE_TAP, .multi_queue = true, .queues = 4, .nonblock = true };
	struct tun_info info;
	char name[IFNAMSIZ], msg[256];
	int fds[TUN_MAX_QUEUES], more[2], before;
	struct rlimit rl, low;

	need_netns();
	assert_int_equal(tun_open("cvmq%d", &o, name, fds), 0);
	for (int i = 0; i < 4; i++) {
		assert_true(fds[i] >= 0);
		assert_true(fcntl(fds[i], F_GETFL) & O_NONBLOCK);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(fds[i], fds[j]);
	}
	assert_int_equal(tun_info_get(name, &info), 0);
	assert_true(info.flags & IFF_MULTI_QUEUE);
	assert_true(info.attached);
	/* All four fds joined the one device: a fifth queue still fits, single-queue is refused. */
	o.queues = 1;
	assert_int_equal(tun_open(name, &o, NULL, more), 0);
	close(more[0]);
	o.multi_queue = false;
	assert_int_equal(tun_open(name, &o, NULL, more), -EINVAL);
	contains(tun_explain(-EINVAL, name, &o, msg, sizeof(msg)), "created with multi_queue");
	assert_int_equal(tun_open(name, &(struct tun_opts){ .mode = TUN_MODE_TAP, .queues = 2 }, NULL, more),
			 -EINVAL);
	assert_int_equal(tun_open(name, &(struct tun_opts){ .mode = TUN_MODE_TAP, .multi_queue = true,
					.queues = TUN_MAX_QUEUES + 1 }, NULL, fds + 4), -EINVAL);
	for (int i = 0; i < 4; i++)
		close(fds[i]);

	/* Failing half way closes what was opened: allow only two more descriptors. */
	before = count_fds();
	more[0] = open("/dev/null", O_RDONLY);
	more[1] = open("/dev/null", O_RDONLY);
	assert_true(more[0] >= 0 && more[1] > more[0]);
	close(more[0]);
	close(more[1]);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	low = rl;
	low.rlim_cur = (rlim_t)more[1] + 1;   /* the two lowest free descriptors, no more */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	o = (struct tun_opts){ .mode = TUN_MODE_TAP, .multi_queue = true, .queues = 4 };
	assert_int_equal(tun_open("cvmq9", &o, name, fds), -EMFILE);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(count_fds(), before);
	assert_int_equal(nl_link_index("cvmq9"), -ENODEV);
}

/* In a child: become UID (no capabilities), try to attach, report the errno and message. */
static int attach_as(uid_t uid, gid_t gid, const char *name, enum tun_mode mode, char *msg, size_t len)
{
	int p[2], status;
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct tun_opts o = { .mode = mode };
		char buf[512];
		int fd, ret;

		close(p[0]);
		if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
			_exit(100);
		ret = tun_open(name, &o, NULL, &fd);
		tun_explain(ret, name, &o, buf, sizeof(buf));
		if (write(p[1], buf, strlen(buf)) < 0)
			_exit(101);
		_exit(ret < 0 ? -ret : 0);
	}
	close(p[1]);
	n = read(p[0], msg, len - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_persist_owner(void **state)
{
	struct tun_opts o = { .mode = TUN_MODE_TAP };
	struct tun_info info, list[8];
	char name[IFNAMSIZ], msg[512];
	size_t n = 0;
	bool seen = false;
	int fd;

	need_netns();
	assert_int_equal(tun_open("cvper0", &o, name, &fd), 0);
	assert_int_equal(tun_set_owner(fd, 4242), 0);
	assert_int_equal(tun_set_group(fd, 4343), 0);
	assert_int_equal(tun_set_persist(fd, true), 0);
	close(fd);

	assert_int_equal(tun_info_get("cvper0", &info), 0);
	assert_string_equal(info.name, "cvper0");
	assert_true(info.persist);
	assert_true(info.flags & IFF_PERSIST);
	assert_true(info.flags & IFF_TAP);
	assert_int_equal(info.owner, 4242);
	assert_int_equal(info.group, 4343);
	assert_false(info.attached);
	assert_int_equal(tun_list(list, 8, &n), 0);
	for (size_t i = 0; i < n && i < 8; i++)
		seen |= !strcmp(list[i].name, "cvper0") && list[i].owner == 4242;
	assert_true(seen);
	assert_int_equal(tun_list(list, 0, &n), 0);
	assert_true(n >= 1);

	/* Mode mismatch, seen by the kernel and explained from what the device says. */
	o.mode = TUN_MODE_TUN;
	assert_int_equal(tun_open("cvper0", &o, name, &fd), -EINVAL);
	assert_string_equal(tun_explain(-EINVAL, "cvper0", &o, msg, sizeof(msg)),
			    "cvper0 is a tap device but tun was asked: use mode tap");

	/* IFF_TUN_EXCL: the name is taken, so nothing is created or attached. */
	o.mode = TUN_MODE_TAP;
	o.excl = true;
	assert_int_equal(tun_open("cvper0", &o, name, &fd), -EEXIST);
	o.excl = false;
	assert_int_equal(tun_info_get("cvper0", &info), 0);
	assert_false(info.attached);
	contains(tun_explain(-EEXIST, "cvper0", &o, msg, sizeof(msg)), "cvper0: a device of that name exists");

	/* Owner and group both match: attach works without capabilities. Wrong uid: EPERM. */
	assert_int_equal(tun_set_group(-1, 0), -EBADF);
	o.mode = TUN_MODE_TAP;
	assert_int_equal(attach_as(4242, 4343, "cvper0", TUN_MODE_TAP, msg, sizeof(msg)), 0);
	assert_int_equal(attach_as(4242, 4242, "cvper0", TUN_MODE_TAP, msg, sizeof(msg)), EPERM);
	contains(msg, "owned by group 4343");
	assert_int_equal(attach_as(4244, 4343, "cvper0", TUN_MODE_TAP, msg, sizeof(msg)), EPERM);
	contains(msg, "owned by uid 4242");
	contains(msg, "run as that user or root");
	/* No device and no capability: creating needs CAP_NET_ADMIN. */
	assert_int_equal(attach_as(4244, 4244, "cvnone0", TUN_MODE_TAP, msg, sizeof(msg)), EPERM);
	contains(msg, "needs CAP_NET_ADMIN");

	assert_int_equal(tun_open("cvper0", &o, name, &fd), 0);
	assert_int_equal(tun_info_get("cvper0", &info), 0);
	assert_true(info.attached);
	assert_int_equal(tun_set_persist(fd, false), 0);
	close(fd);
	assert_int_equal(tun_info_get("cvper0", &info), -ENODEV);
}

/* The node's rules, both ways: the warnings of dev add/show/dump come from these. */
static void test_node(void **state)
{
	struct tun_node closed = { .mode = 0600, .uid = 0, .gid = 0 };
	struct tun_node open_node = { .mode = 0666, .uid = 0, .gid = 0 };
	struct tun_node grp = { .mode = 0660, .uid = 0, .gid = 4343 };
	struct tun_node owner_only = { .mode = 0066, .uid = 4242, .gid = 0 };
	gid_t g4343 = 4343, g1 = 1;
	char why[512];
	struct tun_explain_ctx c = { .euid = 4242, .node = &closed };
	struct tun_opts tun = { .mode = TUN_MODE_TUN };

	assert_false(tun_node_allows(&closed, 4242, NULL, 0));
	assert_true(tun_node_allows(&closed, 0, NULL, 0));
	assert_true(tun_node_allows(&open_node, 4242, NULL, 0));
	assert_true(tun_node_allows(&grp, 4242, &g4343, 1));
	assert_false(tun_node_allows(&grp, 4242, &g1, 1));
	/* The owner's class decides for the owner even when others may do more. */
	assert_false(tun_node_allows(&owner_only, 4242, NULL, 0));
	assert_true(tun_node_allows(&owner_only, 4243, NULL, 0));

	assert_false(tun_node_owner_allowed(&closed, 4242, -1));
	assert_false(tun_node_owner_allowed(&closed, -1, 4343));
	assert_true(tun_node_owner_allowed(&closed, -1, -1));	/* root's own device */
	assert_true(tun_node_owner_allowed(&open_node, 4242, -1));
	assert_true(tun_node_owner_allowed(&open_node, -1, 4343));
	/* A device of group 4343 is used by members of 4343, whom a 0660 root:4343 node lets in. */
	assert_true(tun_node_owner_allowed(&grp, -1, 4343));
	assert_true(tun_node_owner_allowed(&grp, 4242, 4343));
	assert_false(tun_node_owner_allowed(&grp, 4242, -1));

	tun_node_explain(&closed, 4242, -1, why, sizeof(why));
	contains(why, "uid 4242 cannot open /dev/net/tun (mode 0600, owner root:root)");
	contains(why, "chmod 0666 /dev/net/tun");
	tun_node_explain(&closed, -1, 4343, why, sizeof(why));
	contains(why, "gid 4343 cannot open /dev/net/tun");
	/* An unprivileged open that hit EACCES says the same. */
	contains(tun_explain_with(-EACCES, "cv0", &tun, &c, why, sizeof(why)),
		 "uid 4242 cannot open /dev/net/tun (mode 0600, owner root:root)");
}

/* Unprivileged attach needs a node any user may open. Give this process its own: a private
 * mount namespace with a tmpfs on /dev/net holding a 0666 node, so the test does not depend on
 * (or change) the machine's node, whose mode is 0600 on many minimal systems. */
static bool private_tun_node(void)
{
	mode_t old;
	int r;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("culvert-test", "/dev/net", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") < 0)
		return false;
	old = umask(0);
	r = mknod("/dev/net/tun", S_IFCHR | 0666, makedev(10, 200));
	umask(old);
	return r == 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_user_group),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_node),
		cmocka_unit_test(test_open_tun_tap),
		cmocka_unit_test(test_kernel_name_and_alloc),
		cmocka_unit_test(test_multi_queue),
		cmocka_unit_test(test_persist_owner),
	};

	in_netns = geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0 && unshare(CLONE_NEWNET) == 0;
	if (in_netns && !private_tun_node()) {
		/* As root the test can always do this: failing is a failure, not a skip. */
		fprintf(stderr, "cannot make a private /dev/net/tun: %s\n", strerror(errno));
		return 1;
	}
	if (!in_netns)
		fprintf(stderr, "not root, no /dev/net/tun or no unshare(CLONE_NEWNET): kernel tests are skipped\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
