/* Running the helpers wg-quick runs (bash for hooks, resolvconf, nft), with text on stdin and,
 * when asked, stdout collected. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "cli/up.h"

enum { OUT_MAX = 1 << 20 };

static int collect(int fd, char **out)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (cap - len < 2) {
			char *nb = cap < OUT_MAX ? realloc(buf, cap * 2) : NULL;

			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

int up_run(char *const argv[], const char *stdin_text, char **out)
{
	int in[2] = { -1, -1 }, op[2] = { -1, -1 }, status, r = 0;
	pid_t pid;

	if (out)
		*out = NULL;
	if (pipe2(in, O_CLOEXEC) < 0 || (out && pipe2(op, O_CLOEXEC) < 0)) {
		r = -errno;
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto fail;
	}
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		if (out)
			dup2(op[1], STDOUT_FILENO);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	in[0] = -1;
	if (out) {
		close(op[1]);
		op[1] = -1;
	}
	/* Writes before reading: the texts are a few lines, well under a pipe's buffer. */
	if (stdin_text) {
		void (*old)(int) = signal(SIGPIPE, SIG_IGN);
		size_t left = strlen(stdin_text);

		while (left) {
			ssize_t n = write(in[1], stdin_text, left);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			stdin_text += n;
			left -= (size_t)n;
		}
		signal(SIGPIPE, old);
	}
	close(in[1]);
	in[1] = -1;
	if (out) {
		r = collect(op[0], out);
		close(op[0]);
		op[0] = -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (r < 0) {
		free(*out);
		*out = NULL;
		return r;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return -ENOENT;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (op[i] >= 0)
			close(op[i]);
	}
	return r;
}
