/* log's queue (log_async_start): a caller holding a lock returns at once while the reader of
 * stderr has stopped reading (a pipe filled to the brim), the lines that did not fit are
 * counted in the next line that does, in order and whole; log_async_stop writes out everything
 * queued; a forked child writes its own lines and not its parent's. stderr is a pipe that a
 * thread of the test reads, or does not. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lib/log.h"

/* a line of the daemon's usual length */
#define PAD "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
enum { N_LINES = 500, CALL_LIMIT_MS = 50 };

static int saved_stderr = -1, pipe_rd = -1, pipe_wr = -1;

struct reader {
	pthread_t thread;
	bool running;
	char *buf;
	size_t len, cap;
};
static struct reader rd;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *read_all(void *arg)
{
	char chunk[4096];
	ssize_t n;

	while ((n = read(pipe_rd, chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR)) {
		if (n < 0)
			continue;
		if (rd.len + (size_t)n + 1 > rd.cap) {
			rd.cap = (rd.len + (size_t)n + 1) * 2;
			rd.buf = realloc(rd.buf, rd.cap);
			if (!rd.buf)
				abort();
		}
		memcpy(rd.buf + rd.len, chunk, (size_t)n);
		rd.len += (size_t)n;
		rd.buf[rd.len] = '\0';
	}
	return NULL;
}

static void reader_start(void)
{
	assert_int_equal(pthread_create(&rd.thread, NULL, read_all, NULL), 0);
	rd.running = true;
}

/* stderr back as it was: the reader sees the end of the pipe and is joined. */
static void restore_stderr(void)
{
	if (saved_stderr >= 0) {
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		saved_stderr = -1;
	}
	if (pipe_wr >= 0) {
		close(pipe_wr);
		pipe_wr = -1;
	}
	if (rd.running) {
		pthread_join(rd.thread, NULL);
		rd.running = false;
	}
}

static int setup(void **state)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pipe_rd = p[0];
	pipe_wr = p[1];
	/* the smallest pipe there is (a page), so filling it takes one write */
	fcntl(pipe_wr, F_SETPIPE_SZ, 4096);
	saved_stderr = dup(STDERR_FILENO);
	if (saved_stderr < 0 || dup2(pipe_wr, STDERR_FILENO) < 0)
		return -1;
	memset(&rd, 0, sizeof(rd));
	log_set_prefix("t");
	log_set_level(LOG_LVL_INFO);
	return 0;
}

static int teardown(void **state)
{
	log_async_stop();
	/* a failed case may have left the pipe full: let the writer finish */
	if (!rd.running)
		reader_start();
	restore_stderr();
	close(pipe_rd);
	pipe_rd = -1;
	free(rd.buf);
	memset(&rd, 0, sizeof(rd));
	return 0;
}

/* Fills the pipe, as a journald or a pipe reader that has stopped reading leaves it. The
 * descriptor is blocking again afterwards, as stderr is. */
static void fill_pipe(void)
{
	char nl[4096];
	int fl = fcntl(STDERR_FILENO, F_GETFL);

	memset(nl, '\n', sizeof(nl));
	assert_int_equal(fcntl(STDERR_FILENO, F_SETFL, fl | O_NONBLOCK), 0);
	while (write(STDERR_FILENO, nl, sizeof(nl)) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(STDERR_FILENO, F_SETFL, fl), 0);
}

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static long long longest_call_ns;

/* A worker logging with a lock held that every other worker needs. */
static void *log_under_lock(void *arg)
{
	pthread_mutex_lock(&held);
	for (int i = 0; i < N_LINES; i++) {
		long long t0 = now_ns(), dt;

		log_info("line %04d " PAD, i);
		dt = now_ns() - t0;
		if (dt > longest_call_ns)
			longest_call_ns = dt;
	}
	pthread_mutex_unlock(&held);
	return NULL;
}

/* Logs N_LINES from a thread holding a mutex while nobody reads the full pipe; fails (after
 * 5 s, not forever) if the calls wait for the reader. */
static void log_stalled(void)
{
	struct timespec until;
	pthread_t t;
	int r;

	fill_pipe();
	assert_int_equal(log_async_start(4096), 0);
	longest_call_ns = 0;
	assert_int_equal(pthread_create(&t, NULL, log_under_lock, NULL), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	r = pthread_timedjoin_np(t, NULL, &until);
	if (r == ETIMEDOUT) {
		reader_start();
		pthread_join(t, NULL);
		restore_stderr();	/* where cmocka says why */
		fail_msg("the log calls of a thread holding a lock waited for the reader of stderr");
	}
	assert_int_equal(r, 0);
	/* the lock is free at once for everyone else */
	assert_int_equal(pthread_mutex_trylock(&held), 0);
	pthread_mutex_unlock(&held);
	print_message("longest log call: %lld us\n", longest_call_ns / 1000);
	assert_true(longest_call_ns < CALL_LIMIT_MS * 1000000LL);
}

/* The lines that came through, in order and whole, and the lost ones counted: together
 * N_LINES. With want_after, "t: after" is the last line and the count right before it; else
 * the count is the last line. */
static void check_lines(bool want_after)
{
	int next = 0, got = 0, after = 0;
	bool prev_lost = false;
	unsigned long lost = 0;
	char *save = NULL;

	assert_non_null(rd.buf);
	for (char *l = strtok_r(rd.buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		unsigned long n;
		int i, end = 0;
		bool is_lost = false;

		assert_int_equal(after, 0);
		if (sscanf(l, "t: line %d " PAD "%n", &i, &end) == 1 && end && !l[end]) {
			assert_true(i >= next);		/* in order */
			next = i + 1;
			got++;
		} else if (sscanf(l, "t: %lu log line%n", &n, &end) == 1 && end &&
			   !strcmp(l + end, n == 1 ? " lost" : "s lost")) {
			lost += n;
			is_lost = true;
		} else if (!strcmp(l, "t: after")) {
			assert_true(prev_lost);
			after++;
		} else {
			fail_msg("a line cut or mixed up: '%s'", l);
		}
		prev_lost = is_lost;
	}
	print_message("%d lines through, %lu lost\n", got, lost);
	assert_true(lost > 0);
	assert_int_equal(got + (int)lost, N_LINES);
	assert_int_equal(after, want_after ? 1 : 0);
	if (!want_after)
		assert_true(prev_lost);
}

static void test_stalled_reader(void **state)
{
	log_stalled();
	/* the reader reads again: what was queued goes out, then the next line with the count */
	reader_start();
	assert_int_equal(log_flush(5000), 0);
	log_info("after");
	log_async_stop();
	restore_stderr();
	check_lines(true);
}

/* Nothing logged after the loss: stopping says what was lost, as the last line. */
static void test_stop_reports_lost(void **state)
{
	log_stalled();
	reader_start();
	log_async_stop();
	restore_stderr();
	check_lines(false);
}

/* A clean stop writes everything queued, in order, and then callers write themselves. */
static void test_stop_writes_all(void **state)
{
	char *save = NULL;
	int i = 0;

	reader_start();
	assert_int_equal(log_async_start(0), 0);
	for (int k = 0; k < 2000; k++)
		log_info("line %04d " PAD, k);
	log_async_stop();
	log_info("synchronous");
	restore_stderr();
	assert_non_null(rd.buf);
	for (char *l = strtok_r(rd.buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save), i++) {
		char want[128];

		if (i == 2000) {
			assert_string_equal(l, "t: synchronous");
			continue;
		}
		snprintf(want, sizeof(want), "t: line %04d " PAD, i);
		assert_string_equal(l, want);
	}
	assert_int_equal(i, 2001);
}

/* A forked child has no writer thread: it writes its own line, and none of its parent's. */
static void test_fork_child(void **state)
{
	const char *p1, *c, *p2;
	int st;
	pid_t pid;

	reader_start();
	assert_int_equal(log_async_start(0), 0);
	log_info("parent 1");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		log_info("child");
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	log_info("parent 2");
	log_async_stop();
	restore_stderr();
	assert_non_null(rd.buf);
	p1 = strstr(rd.buf, "t: parent 1\n");
	c = strstr(rd.buf, "t: child\n");
	p2 = strstr(rd.buf, "t: parent 2\n");
	assert_non_null(p1);
	assert_non_null(c);
	assert_non_null(p2);
	assert_true(p1 < p2);
	assert_null(strstr(p1 + 1, "t: parent 1\n"));
	assert_int_equal(strlen(rd.buf), strlen("t: parent 1\nt: child\nt: parent 2\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stalled_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_reports_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_writes_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork_child, setup, teardown),
	};

	/* the last word against a hang the cases' own timeouts miss */
	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
