/* Cost of the tap-mode switch per frame (fdb_forward_batch: parse, learn the source, look up
 * the destination) on threads that share one table, as the workers will: each thread forwards
 * frames between 1000 hosts spread over 8 peers and the tap, every host known, so the run
 * measures the common case (a hit on both lookups under the read lock), one frame at a time
 * and in batches of 32. The frames are built beforehand and the time is each thread's CPU
 * time, so other load on the machine inflates the numbers less than wall time would.
 * Usage: fdb_bench [SECONDS] [THREADS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "wg/fdb.h"

enum { HOSTS = 1000, PORTS = 9 };
static struct fdb fdb;
static char peers[PORTS];
static double secs = 1;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static struct wg_peer *port_of(unsigned int h)
{
	return h % PORTS ? (struct wg_peer *)&peers[h % PORTS] : FDB_LOCAL;
}

static void frame(uint8_t *f, unsigned int d, unsigned int s)
{
	memset(f, 0, 64);
	f[0] = 2; f[4] = (uint8_t)(d >> 8); f[5] = (uint8_t)d;
	f[6] = 2; f[10] = (uint8_t)(s >> 8); f[11] = (uint8_t)s;
	f[12] = 0x08;
}

enum { ROUNDS = 64 };
static int batch = 1;

static void *run(void *arg)
{
	double *ns = arg, t0 = now(), t;
	uint64_t n = 0, clock = 1000000000000ull;
	unsigned int x = (unsigned int)(uintptr_t)ns, port[ROUNDS];
	static __thread struct fdb_frame_ref in[ROUNDS][32];
	static __thread uint8_t f[ROUNDS][32][64];
	struct fdb_out out[32];

	for (int r = 0; r < ROUNDS; r++) {
		unsigned int p = port[r] = (x = x * 1103515245 + 12345) % PORTS;
		for (int i = 0; i < 32; i++) {
			unsigned int s = p + PORTS * ((x = x * 1103515245 + 12345) % (HOSTS / PORTS));
			frame(f[r][i], (s * 7 + 1) % HOSTS, s);
			in[r][i] = (struct fdb_frame_ref){ f[r][i], 64 };
		}
	}
	t0 = now();
	do {
		for (int r = 0; r < ROUNDS; r++) {
			for (int i = 0; i < 32; i += batch)
				fdb_forward_batch(&fdb, &in[r][i], (unsigned int)batch, port_of(port[r]),
						  clock + n, out);
			for (int i = 0; i < batch; i++)
				if (out[i].why != FDB_DROP__COUNT && out[i].why != FDB_DROP_HAIRPIN)
					abort();
			n += 32;
		}
		t = now() - t0;
	} while (t < secs);
	*ns = t * 1e9 / (double)n;
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 2;
	pthread_t th[64];
	double ns[64];
	struct fdb_out out;
	uint8_t f[64];

	if (argc > 1)
		secs = atof(argv[1]);
	if (threads < 1 || threads > 64 || fdb_init(&fdb, NULL))
		return 1;
	for (unsigned int h = 0; h < HOSTS; h++) {
		frame(f, 0xffff, h);
		memset(f, 0xff, 6);
		fdb_forward(&fdb, f, 64, port_of(h), 1000000000000ull, &out, NULL);
	}
	for (batch = 1; batch <= 32; batch *= 32)
	for (int k = 1; k <= threads; k++) {
		double sum = 0;
		for (int i = 0; i < k; i++)
			pthread_create(&th[i], NULL, run, &ns[i]);
		for (int i = 0; i < k; i++) {
			pthread_join(th[i], NULL);
			sum += ns[i];
		}
		printf("batches of %2d, %d thread%s: %.0f ns per frame per thread (%u entries)\n",
		       batch, k, k > 1 ? "s" : "", sum / k, fdb_count(&fdb));
	}
	fdb_uninit(&fdb);
	return 0;
}
