#include "log.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "lib/clock.h"

static enum log_level level = LOG_LVL_INFO;
static bool silent;		/* LOG_LEVEL=silent */
static const char *prefix = "culvert";
static bool to_syslog, to_journal;

void log_set_level(enum log_level lvl) { level = lvl; silent = false; }
void log_set_prefix(const char *p) { prefix = p; }
bool log_enabled(enum log_level lvl) { return !silent && lvl <= level; }

void log_init_env(void)
{
	static const struct { const char *name; enum log_level lvl; } names[] = {
		{ "verbose", LOG_LVL_DEBUG }, { "debug", LOG_LVL_DEBUG }, { "info", LOG_LVL_INFO },
		{ "warn", LOG_LVL_WARN }, { "error", LOG_LVL_ERR },
	};
	const char *s = getenv("LOG_LEVEL"), *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i].name))
			log_set_level(names[i].lvl);
	if (s && !strcmp(s, "silent"))
		silent = true;
	/* stderr may have been redirected since systemd set the variable: compare */
	to_journal = js && sscanf(js, "%llu:%llu%c", &dev, &ino, &end) == 2 &&
		     fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
		     (unsigned long long)st.st_ino == ino;
}

void log_use_syslog(bool on)
{
	to_syslog = on;
	if (!on)
		return;
	openlog(prefix, LOG_PID, LOG_DAEMON);
	/* syslog() stamps each line with the local time, and libc reads /etc/localtime the first
	 * time it needs it: load it now, while open() is still allowed, not in the logger thread
	 * after the seccomp filter is on. */
	tzset();
}

/* One line as it will be written: for stderr complete with prefix, priority and newline, for
 * syslog the message alone. */
struct log_line {
	uint16_t len;
	uint8_t prio;
	uint8_t syslog;
	char text[1200];
};

static const int prio_of[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

static void line_format(struct log_line *l, enum log_level lvl, const char *msg)
{
	int n;

	l->prio = (uint8_t)prio_of[lvl];
	l->syslog = to_syslog;
	if (to_syslog)
		n = snprintf(l->text, sizeof(l->text), "%s", msg);
	else if (to_journal)
		n = snprintf(l->text, sizeof(l->text), "<%d>%s: %s\n", l->prio, prefix, msg);
	else
		n = snprintf(l->text, sizeof(l->text), "%s: %s\n", prefix, msg);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(l->text)) {
		n = sizeof(l->text) - 1;
		if (!to_syslog)
			l->text[n - 1] = '\n';
	}
	l->len = (uint16_t)n;
}

/* All of buf to fd. A descriptor someone else left non-blocking (a shared terminal or pipe)
 * is waited for rather than losing the rest of a line. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			poll(&p, 1, -1);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The queue. Lines go into a ring of records (struct rec, then the text) which one thread
 * takes out and writes. Writing may block for as long as the reader (journald, a pipe, the
 * syslog socket) likes, and a line may be logged with the device lock held: then every worker
 * would wait for the reader. A line that does not fit is dropped and counted instead, and the
 * count goes into the queue ahead of the next line that fits, where the gap is. */
struct rec {
	uint16_t len;
	uint8_t prio;
	uint8_t syslog;
};

enum { LOG_QUEUE_DEFAULT = 256 * 1024 };

static struct {
	pthread_mutex_t lock;	/* held for copies in and out of ring only, never across a write */
	pthread_cond_t more;	/* the writer waits for lines */
	pthread_cond_t done;	/* log_flush waits for the writer */
	pthread_t thread;
	bool running;		/* lines are queued; else written by the caller */
	bool stop;
	char *ring;
	size_t size;
	size_t head, tail;	/* bytes ever put in and taken out; used = head - tail */
	size_t written;		/* bytes taken out and written */
	unsigned long lost;
} q = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void ring_put(const void *p, size_t n)
{
	size_t at = q.head % q.size, first = n < q.size - at ? n : q.size - at;

	memcpy(q.ring + at, p, first);
	memcpy(q.ring, (const char *)p + first, n - first);
	q.head += n;
}

static void ring_take(void *p, size_t n)
{
	size_t at = q.tail % q.size, first = n < q.size - at ? n : q.size - at;

	memcpy(p, q.ring + at, first);
	memcpy((char *)p + first, q.ring, n - first);
	q.tail += n;
}

static void queue_put_line(const struct log_line *l)
{
	struct rec r = { l->len, l->prio, l->syslog };

	ring_put(&r, sizeof(r));
	ring_put(l->text, l->len);
}

/* Under q.lock: a line saying how many were lost, where they were lost. */
static void lost_line(struct log_line *l)
{
	char msg[64];

	snprintf(msg, sizeof(msg), "%lu log line%s lost", q.lost, q.lost == 1 ? "" : "s");
	line_format(l, LOG_LVL_WARN, msg);
}

/* 0 when queued, -ENOBUFS when dropped, -ENOTCONN when there is no queue (write it now). */
static int queue_put(const struct log_line *l)
{
	struct log_line note;
	size_t need = sizeof(struct rec) + l->len;

	pthread_mutex_lock(&q.lock);
	if (!q.running) {
		pthread_mutex_unlock(&q.lock);
		return -ENOTCONN;
	}
	if (q.lost) {
		lost_line(&note);
		need += sizeof(struct rec) + note.len;
	}
	if (q.size - (q.head - q.tail) < need) {
		q.lost++;
		pthread_mutex_unlock(&q.lock);
		return -ENOBUFS;
	}
	if (q.lost) {
		queue_put_line(&note);
		q.lost = 0;
	}
	queue_put_line(l);
	pthread_cond_signal(&q.more);
	pthread_mutex_unlock(&q.lock);
	return 0;
}

/* Lines to stderr are gathered so that each write is one pipe write: at most PIPE_BUF bytes,
 * which a pipe takes whole, never mixed with another writer's. */
static void *writer(void *arg)
{
	char batch[PIPE_BUF];
	struct log_line l;
	size_t n;

	pthread_mutex_lock(&q.lock);
	for (;;) {
		while (q.head == q.tail && !q.stop)
			pthread_cond_wait(&q.more, &q.lock);
		if (q.head == q.tail) {
			if (!q.lost)
				break;
			/* lines were lost and none came after: say so before ending */
			lost_line(&l);
			queue_put_line(&l);
			q.lost = 0;
		}
		/* One syslog line, or as many stderr lines as fit the batch. */
		n = 0;
		while (q.head != q.tail) {
			struct rec r;
			size_t tail = q.tail;

			ring_take(&r, sizeof(r));
			if (r.syslog ? n > 0 : n + r.len > sizeof(batch)) {
				q.tail = tail;
				break;
			}
			if (r.syslog) {
				l.prio = r.prio;
				l.len = r.len;
				ring_take(l.text, r.len);
				l.text[r.len] = '\0';
				l.syslog = 1;
				break;
			}
			ring_take(batch + n, r.len);
			n += r.len;
		}
		pthread_mutex_unlock(&q.lock);
		if (n)
			write_all(STDERR_FILENO, batch, n);
		else
			syslog(l.prio, "%s", l.text);
		pthread_mutex_lock(&q.lock);
		q.written = q.tail;
		pthread_cond_broadcast(&q.done);
	}
	/* Empty, and nothing more is queued from here on: callers write their lines themselves. */
	q.running = false;
	pthread_cond_broadcast(&q.done);
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

/* A forked child has the queue but not the thread: the parent's thread writes what was
 * queued, and the child writes its own lines itself. */
static void fork_prepare(void) { pthread_mutex_lock(&q.lock); }
static void fork_parent(void) { pthread_mutex_unlock(&q.lock); }

static void fork_child(void)
{
	pthread_mutex_init(&q.lock, NULL);
	q.running = false;
	q.stop = false;
	q.head = q.tail = q.written = 0;
	q.lost = 0;
}

static void at_exit(void)
{
	log_async_stop();
}

static void register_once(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	atexit(at_exit);
}

int log_async_start(size_t queue_bytes)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_condattr_t ca;
	sigset_t all, old;
	int r;

	if (q.running)
		return -EALREADY;
	if (!queue_bytes)
		queue_bytes = LOG_QUEUE_DEFAULT;
	/* room for the longest line and the count of those lost before it */
	if (queue_bytes < 2 * (sizeof(struct rec) + sizeof(((struct log_line *)0)->text)))
		return -EINVAL;
	pthread_once(&once, register_once);
	free(q.ring);	/* a forked child's copy of its parent's queue */
	q.ring = malloc(queue_bytes);
	if (!q.ring)
		return -ENOMEM;
	q.size = queue_bytes;
	q.head = q.tail = q.written = 0;
	q.lost = 0;
	q.stop = false;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q.more, NULL);
	pthread_cond_init(&q.done, &ca);
	pthread_condattr_destroy(&ca);
	/* Lines a buffered stderr still holds go before the queue's. */
	fflush(stderr);
	q.running = true;
	/* Signals are for the threads that handle them; the writer only writes. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&q.thread, NULL, writer, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		q.running = false;
		pthread_cond_destroy(&q.more);
		pthread_cond_destroy(&q.done);
		free(q.ring);
		q.ring = NULL;
		return -r;
	}
	return 0;
}

void log_async_stop(void)
{
	pthread_mutex_lock(&q.lock);
	if (!q.running || q.stop) {
		pthread_mutex_unlock(&q.lock);
		return;
	}
	q.stop = true;
	pthread_cond_signal(&q.more);
	pthread_mutex_unlock(&q.lock);
	/* Waits for every queued line, as long as the reader takes: a clean exit loses none. */
	pthread_join(q.thread, NULL);
	pthread_cond_destroy(&q.more);
	pthread_cond_destroy(&q.done);
	free(q.ring);
	q.ring = NULL;
	q.stop = false;
}

int log_flush(int timeout_ms)
{
	struct timespec until;
	size_t target;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q.lock);
	target = q.head;
	while (q.running && q.written < target && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&q.done, &q.lock, &until);
	r = q.running && q.written < target ? -ETIMEDOUT : 0;
	pthread_mutex_unlock(&q.lock);
	return r;
}

static void emit(const struct log_line *l)
{
	if (l->syslog)
		syslog(l->prio, "%s", l->text);
	else
		/* One fwrite per line so lines from several threads do not interleave. */
		fwrite(l->text, 1, l->len, stderr);
}

static void vlog(enum log_level lvl, const char *fmt, va_list ap)
{
	struct log_line l;
	char msg[1024];

	if (!log_enabled(lvl))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	line_format(&l, lvl, msg);
	if (queue_put(&l) == -ENOTCONN)
		emit(&l);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, fmt, ap);
	va_end(ap);
}

/* Workers share call sites, so the bookkeeping is under one lock; it is taken only on a drop
 * path whose log level is enabled, and never while printing. */
static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;

void log_limited(struct log_ratelimit *rl, enum log_level lvl, const char *fmt, ...)
{
	long long now;
	unsigned int suppressed = 0;
	bool print;
	va_list ap;

	if (!log_enabled(lvl))
		return;
	now = (long long)clock_mono_ms();
	pthread_mutex_lock(&rl_lock);
	if (now - rl->window_start_ms >= 5000) {
		suppressed = rl->suppressed;
		rl->window_start_ms = now;
		rl->printed = rl->suppressed = 0;
	}
	print = rl->printed < 5;
	if (print)
		rl->printed++;
	else
		rl->suppressed++;
	pthread_mutex_unlock(&rl_lock);
	if (suppressed)
		log_msg(lvl, "(%u similar messages suppressed)", suppressed);
	if (!print)
		return;
	va_start(ap, fmt);
	vlog(lvl, fmt, ap);
	va_end(ap);
}
