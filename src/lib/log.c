#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

static enum log_level level = LOG_LVL_INFO;
static const char *prefix = "culvert";
static bool to_syslog;

void log_set_level(enum log_level lvl) { level = lvl; }
void log_set_prefix(const char *p) { prefix = p; }
bool log_enabled(enum log_level lvl) { return lvl <= level; }

void log_use_syslog(bool on)
{
	to_syslog = on;
	if (on)
		openlog(prefix, LOG_PID, LOG_DAEMON);
}

static void vlog(enum log_level lvl, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

	if (!log_enabled(lvl))
		return;
	if (to_syslog) {
		vsyslog(prio[lvl], fmt, ap);
		return;
	}
	/* One fprintf per line so lines from several threads do not interleave. */
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "%s: %s\n", prefix, line);
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
	struct timespec ts;
	long long now;
	unsigned int suppressed = 0;
	bool print;
	va_list ap;

	if (!log_enabled(lvl))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
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
