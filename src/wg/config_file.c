/* Reading a configuration file: a size-bounded read of a regular file into config_parse, and
 * the check that a file holding a private key is not readable by other users. */
#include "config.h"
#include "key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX_FILE (1u << 20)

int config_load(struct config *c, const char *path, enum config_format fmt, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd, ret;
	const char *base = strrchr(path, '/');

	memset(c, 0, sizeof(*c));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_FILE) {
		ret = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		snprintf(err, errlen, "%s: %s", path, S_ISREG(st.st_mode) ?
			 "larger than 1 MiB, not a configuration file" : "not a regular file");
		close(fd);
		return ret;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = r < 0 ? -errno : -EIO;
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
			close(fd);
			key_wipe(buf, got);
			free(buf);
			return ret;
		}
		got += (size_t)r;
	}
	close(fd);
	ret = config_parse(c, buf, got, base ? base + 1 : path, fmt, err, errlen) ? 0 : -EINVAL;
	key_wipe(buf, got);
	free(buf);
	return ret;
}

int config_check_private_file(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "%s: mode %04o lets other users read the private key; run 'chmod 600 %s'",
			 path, (unsigned int)(st.st_mode & 07777), path);
		return -EACCES;
	}
	return 0;
}
