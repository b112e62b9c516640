/* SPDX-License-Identifier: MIT */
/*
 * hist.c - the latency histogram of the benchmark: log-linear buckets of
 * fixed size (see bench.h), so recording a sample never allocates and the
 * percentiles come from every sample, not from a mean.
 */
#include "bench.h"

#include <string.h>

static unsigned
hist_index(uint64_t v)
{
	if (v < (1u << BENCH_HSUB_BITS))
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);
	unsigned sub = (unsigned)(v >> (e - BENCH_HSUB_BITS)) &
	    ((1u << BENCH_HSUB_BITS) - 1);
	return ((e - BENCH_HSUB_BITS + 1) << BENCH_HSUB_BITS) + sub;
}

/* The largest value that falls into bucket i. */
static uint64_t
hist_upper(unsigned i)
{
	if (i < (1u << BENCH_HSUB_BITS))
		return i;
	unsigned e = (i >> BENCH_HSUB_BITS) + BENCH_HSUB_BITS - 1;
	uint64_t sub = i & ((1u << BENCH_HSUB_BITS) - 1);
	uint64_t base = ((uint64_t)1 << e) | (sub << (e - BENCH_HSUB_BITS));
	return base + ((uint64_t)1 << (e - BENCH_HSUB_BITS)) - 1;
}

void
bench_hist_reset(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void
bench_hist_add(struct bench_hist *h, uint64_t ns)
{
	h->b[hist_index(ns)]++;
	h->count++;
	h->sum += ns;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

uint64_t
bench_hist_quantile(const struct bench_hist *h, double q)
{
	if (!h->count)
		return 0;
	uint64_t want = (uint64_t)(q * (double)h->count + 0.5);
	if (want < 1)
		want = 1;
	if (want > h->count)
		want = h->count;
	uint64_t seen = 0;
	for (unsigned i = 0; i < BENCH_HBUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t v = hist_upper(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

void
bench_hist_merge(struct bench_hist *into, const struct bench_hist *h)
{
	if (!h->count)
		return;
	for (unsigned i = 0; i < BENCH_HBUCKETS; i++)
		into->b[i] += h->b[i];
	into->count += h->count;
	into->sum += h->sum;
	if (h->min < into->min)
		into->min = h->min;
	if (h->max > into->max)
		into->max = h->max;
}
