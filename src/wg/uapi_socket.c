/* The control sockets' files (DIR/IFACE.sock, DIR being /var/run/wireguard as for
 * wireguard-go): the daemon's side (listen, accept, remove) and the client's (connect, list). */
#include "wg/uapi.h"
#include "wg/uapi_client.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <net/if.h>

/* ---- daemon ---- */

int uapi_socket_path(char *buf, size_t len, const char *dir, const char *iface)
{
	size_t il = iface ? strlen(iface) : 0;
	int n;

	if (!il || il >= IF_NAMESIZE || strchr(iface, '/') || !strcmp(iface, ".") || !strcmp(iface, ".."))
		return -EINVAL;
	n = snprintf(buf, len, "%s/%s.sock", dir ? dir : UAPI_SOCKET_DIR, iface);
	if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/* A socket file nobody accepts on is left over from a crashed daemon; a live one is not ours. */
static int remove_stale(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(sun.sun_path, path);
	ret = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (!ret)
		return -EADDRINUSE;
	if (errno != ECONNREFUSED && errno != ENOENT)
		return -errno;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

/* Whoever may write to the directory could put their own socket in the place of ours and be
 * sent the keys of the next `wg set`: it must belong to root or to us, writable by no one else. */
int uapi_dir_check(const char *dir, char *why, size_t len)
{
	struct stat st;

	if (!dir)
		dir = UAPI_SOCKET_DIR;
	if (mkdir(dir, 0755) == 0) {
		if (chmod(dir, 0755) < 0)	/* the umask may have taken bits off */
			return -errno;
	} else if (errno != EEXIST) {
		return -errno;
	}
	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if ((st.st_uid == 0 || st.st_uid == geteuid()) && !(st.st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	if (why)
		snprintf(why, len, "%s (owner uid %u, mode %04o) must belong to root and be writable "
			 "by no one else, or others could take the place of the control socket; fix it "
			 "with 'chown root: %s && chmod go-w %s', or remove it",
			 dir, (unsigned int)st.st_uid, (unsigned int)(st.st_mode & 07777), dir, dir);
	return -EPERM;
}

int uapi_listen(const char *dir, const char *iface)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, ret;

	if (!dir)
		dir = UAPI_SOCKET_DIR;
	ret = uapi_socket_path(sun.sun_path, sizeof(sun.sun_path), dir, iface);
	if (ret)
		return ret;
	ret = uapi_dir_check(dir, NULL, 0);
	if (ret)
		return ret;
	ret = remove_stale(sun.sun_path);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0077);	/* the socket is born 0600: no window where others may connect */
	ret = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (ret < 0 || chmod(sun.sun_path, 0600) < 0 || listen(fd, 16) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int uapi_accept(int listen_fd)
{
	int fd;

	do
		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return fd;
}

void uapi_unlink(const char *dir, const char *iface)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	if (!uapi_socket_path(path, sizeof(path), dir, iface))
		unlink(path);
}

/* ---- client ---- */

int uapi_client_connect(const char *dir, const char *iface)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, r;

	r = uapi_socket_path(sun.sun_path, sizeof(sun.sun_path), dir, iface);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void uapi_client_free_list(char **names)
{
	if (!names)
		return;
	for (char **n = names; *n; n++)
		free(*n);
	free(names);
}

int uapi_client_list(const char *dir, char ***names)
{
	const char *d = dir ? dir : UAPI_SOCKET_DIR;
	char **v = calloc(1, sizeof(*v));
	size_t n = 0;
	struct dirent *e;
	DIR *dp;

	*names = NULL;
	if (!v)
		return -ENOMEM;
	dp = opendir(d);
	if (!dp) {
		int r = -errno;

		if (r == -ENOENT) {
			*names = v;
			return 0;
		}
		free(v);
		return r;
	}
	while ((e = readdir(dp))) {
		size_t len = strlen(e->d_name);
		struct stat st;
		char **nv;

		if (len <= 5 || len - 5 >= IFNAMSIZ || strcmp(e->d_name + len - 5, ".sock"))
			continue;
		if (fstatat(dirfd(dp), e->d_name, &st, 0) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		nv = realloc(v, (n + 2) * sizeof(*v));
		if (!nv)
			goto oom;
		v = nv;
		v[n] = strndup(e->d_name, len - 5);
		if (!v[n])
			goto oom;
		v[++n] = NULL;
	}
	closedir(dp);
	qsort(v, n, sizeof(*v), cmp_names);
	*names = v;
	return (int)n;
oom:
	closedir(dp);
	v[n] = NULL;
	uapi_client_free_list(v);
	return -ENOMEM;
}
