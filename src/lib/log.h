/* Logging: one line per event to stderr (or syslog once daemonized, or the journal's stream with
 * priority prefixes), rate-limited where asked. Lines are written by the caller unless
 * log_async_start has been called: then by a thread of their own. */
#ifndef CULVERT_LOG_H
#define CULVERT_LOG_H
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level(enum log_level lvl);
/* From the environment, once at start: LOG_LEVEL as wireguard-go reads it (verbose or debug:
 * everything; error: errors only; silent: nothing; culvert also takes warn and info; anything
 * else keeps the default, info), and JOURNAL_STREAM: when it names stderr (DEV:INODE), each
 * line starts with its syslog priority, <3> to <7>, so the journal keeps the levels. */
void log_init_env(void);
void log_set_prefix(const char *prefix);   /* e.g. "culvert wg0"; not copied */
void log_use_syslog(bool on);
bool log_enabled(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* From here on lines go to a bounded queue (queue_bytes, 0 for 256 KiB) that a thread of the
 * log's own writes out, so a caller never waits for the reader (journald, a pipe, syslog),
 * whatever lock it holds. A line that does not fit is dropped, and the next one that fits is
 * preceded by "N log lines lost". For the daemons, once privileges are dropped (the thread
 * keeps the credentials it is started with); CLI commands stay synchronous. A forked child
 * writes its own lines, synchronously. 0 or -errno. */
int log_async_start(size_t queue_bytes);
/* Writes out what is queued, however long the reader takes, and ends the thread; lines are
 * written by the caller again. Also run at exit(). */
void log_async_stop(void);
/* Waits up to timeout_ms for the lines queued so far to be written: before a fatal exit that
 * skips log_async_stop. 0, or -ETIMEDOUT. */
int log_flush(int timeout_ms);

/* At most a burst of 5 lines per 5 seconds per call site; the suppressed count is reported. */
struct log_ratelimit { long long window_start_ms; unsigned int printed, suppressed; };
void log_limited(struct log_ratelimit *rl, enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(LOG_LVL_DEBUG)) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)
#define log_ratelimited(lvl, ...) do { static struct log_ratelimit rl_; log_limited(&rl_, lvl, __VA_ARGS__); } while (0)

#endif
