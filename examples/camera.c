/* SPDX-License-Identifier: MIT */
/*
 * camera.c - one publisher, many subscribers, frames written once into
 * shared memory and read in place by every subscriber (zero-copy
 * publish/subscribe on shm). The camera publishes FRAMES frames of 1 MiB,
 * each stamped with its number and a checksum; a viewer checks every frame
 * it sees and says how many it lost (a viewer slower than the camera loses
 * its oldest frames: slow=drop, the default).
 *
 *   ./camera camera [NAME]      shell 1: publish 600 frames, 30 a second
 *   ./camera viewer [NAME]      shells 2, 3, ...: check and count frames
 *   ./camera --selftest         a camera and three viewers, as processes,
 *                               nothing lost (slow=block)
 */
#include <errno.h>
#include <ipckit.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FRAME (1024 * 1024)
#define FRAMES 600

/* A frame: its number, then bytes that follow from it, then a checksum. */
static void
frame_fill(unsigned char *f, uint64_t n)
{
	uint64_t x = n * 0x9e3779b97f4a7c15ull | 1, sum = 0;
	memcpy(f, &n, 8);
	for (size_t i = 8; i + 8 <= FRAME - 8; i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(f + i, &x, 8);
		sum += x;
	}
	memcpy(f + FRAME - 8, &sum, 8);
}

/* The frame's number, or -1 when a byte is wrong. */
static int64_t
frame_check(const unsigned char *f)
{
	uint64_t n, sum = 0, want, v;
	memcpy(&n, f, 8);
	for (size_t i = 8; i + 8 <= FRAME - 8; i += 8) {
		memcpy(&v, f + i, 8);
		sum += v;
	}
	memcpy(&want, f + FRAME - 8, 8);
	return sum == want ? (int64_t)n : -1;
}

static int
camera(const char *name, int viewers, int pace_ms)
{
	char url[256];
	snprintf(url, sizeof(url), "shm:///%s?pattern=pub&maxmsg=1M&queue=8%s",
	    name, viewers ? "&slow=block" : "");
	struct ipk_chan *pub;
	int rv = ipk_bind(url, NULL, &pub);
	if (rv < 0) {
		fprintf(stderr, "camera: %s\n", ipk_strerror(rv));
		return 1;
	}
	/* With --selftest, wait for the viewers so that they see it all. */
	for (int i = 0; i < 1000 && ipk_npeers(pub) < viewers; i++)
		usleep(10000);
	for (uint64_t n = 0; n < FRAMES && rv == 0; n++) {
		void *f;
		if ((rv = ipk_loan(pub, FRAME, &f, 10000)) == 0) {
			frame_fill(f, n); /* written once, in place */
			rv = ipk_commit(pub, FRAME, 0);
		}
		if (pace_ms) {
			struct timespec ts = {0, pace_ms * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	if (rv == 0)
		rv = ipk_send(pub, "end", 3, 0, 10000);
	if (rv < 0)
		fprintf(stderr, "camera: %s\n", ipk_strerror(rv));
	ipk_close(pub);
	return rv < 0;
}

static int
viewer(const char *name)
{
	char url[256];
	snprintf(url, sizeof(url), "shm:///%s?pattern=sub", name);
	struct ipk_opts o = {.timeout_ms = 10000}; /* wait for the camera */
	struct ipk_chan *sub;
	int rv = ipk_dial(url, &o, &sub);
	if (rv < 0) {
		fprintf(stderr, "viewer: %s\n", ipk_strerror(rv));
		return 1;
	}
	uint64_t seen = 0, bad = 0;
	for (;;) {
		const void *f;
		size_t len;
		rv = ipk_peek(sub, &f, &len, NULL, 10000); /* read in place */
		if (rv < 0 || len == 3)
			break;
		if (len != FRAME || frame_check(f) < 0)
			bad++;
		seen++;
		rv = ipk_release(sub); /* -ESTALE: overwritten while held */
		if (rv < 0 && rv != -ESTALE)
			break;
	}
	struct ipk_stats st;
	ipk_stats(sub, &st);
	printf("viewer %d: %llu frames checked, %llu bad, %llu lost\n",
	    (int)getpid(), (unsigned long long)seen, (unsigned long long)bad,
	    (unsigned long long)st.gaps);
	fflush(stdout);
	ipk_close(sub);
	return rv < 0 && rv != IPK_ECLOSED ? 1 : bad != 0;
}

static int
selftest(void)
{
	char name[64];
	snprintf(name, sizeof(name), "ipk-camera-%d", (int)getpid());
	int fds[2];
	if (pipe(fds) < 0)
		return 1;
	pid_t v[3];
	for (int i = 0; i < 3; i++) {
		if ((v[i] = fork()) == 0) {
			/* Each viewer's report goes to the pipe. */
			dup2(fds[1], 1);
			_exit(viewer(name));
		}
	}
	close(fds[1]);
	int fail = camera(name, 3, 0);
	for (int i = 0; i < 3; i++) {
		int st;
		waitpid(v[i], &st, 0);
		fail |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	char out[512] = {0};
	ssize_t n = read(fds[0], out, sizeof(out) - 1);
	fputs(n > 0 ? out : "", stdout);
	char want[64];
	snprintf(
	    want, sizeof(want), "%d frames checked, 0 bad, 0 lost", FRAMES);
	int good = 0;
	for (char *p = strstr(out, want); p; p = strstr(p + 1, want))
		good++;
	fail |= good != 3;
	return fail;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "--selftest"))
		return selftest();
	const char *name = argc >= 3 ? argv[2] : "camera";
	if (argc >= 2 && !strcmp(argv[1], "camera"))
		return camera(name, 0, 33);
	if (argc >= 2 && !strcmp(argv[1], "viewer"))
		return viewer(name);
	fprintf(stderr, "usage: camera camera|viewer [NAME] | --selftest\n");
	return 2;
}
