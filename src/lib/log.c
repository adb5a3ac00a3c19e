#include "log.h"

#include <pthread.h>
#include <stdarg.h>
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
	if (to_journal)
		fprintf(stderr, "<%d>%s: %s\n", prio[lvl], prefix, line);
	else
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
