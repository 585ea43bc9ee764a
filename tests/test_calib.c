/*
 * test_calib.c: calibration sampling and statistics on the demo model:
 * reproducible samples, consistent statistics, save/load round trip, and
 * clear errors for unusable calibration text.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "tq.h"

static char tmpdir[] = "/tmp/tq-calib-XXXXXX";

static const char *
write_tmp(const char *name, const char *data, size_t len)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	if (f != NULL) {
		fwrite(data, 1, len, f);
		fclose(f);
	}
	return path;
}

static void
expect_err(const tq_model *m, const char *what, const char *path,
    const char *text)
{
	tq_calib_opts o = TQ_CALIB_OPTS_INIT;
	tq_calib *c = NULL;
	tq_error err = { TQ_OK, "" };

	o.n_samples = 2;
	o.seqlen = 64;
	tap_ok(tq_calib_sample(m, path, &o, &c, &err) != TQ_OK && c == NULL &&
	    strstr(err.msg, text) != NULL, "%s: %s", what, err.msg);
}

/*
 * Options of another version are refused with a message naming the struct
 * and its INIT macro: the sampling, the job and the forward pass.
 */
static void
check_versions(const tq_model *m, const char *text)
{
	tq_calib_opts o = TQ_CALIB_OPTS_INIT;
	tq_forward_opts fo = TQ_FORWARD_OPTS_INIT;
	const int32_t ids[4] = { 1, 2, 3, 4 };
	tq_calib *c = NULL;
	tq_job *j = (tq_job *)&o;
	tq_error err = { TQ_OK, "" };

	tap_ok(o.version == TQ_CALIB_OPTS_VERSION && o.n_samples == 0 &&
	    o.seqlen == 0 && o.seed == 0 && fo.version ==
	    TQ_FORWARD_OPTS_VERSION && fo.act_hook == NULL &&
	    fo.cancel == NULL, "the INIT macros give the version and zeros");
	o.version = 0;
	tap_ok(tq_calib_sample(m, text, &o, &c, &err) == TQ_EINVAL &&
	    c == NULL && strstr(err.msg, "tq_calib_opts: version 0") != NULL &&
	    strstr(err.msg, "TQ_CALIB_OPTS_INIT") != NULL,
	    "calibration options of version 0: %s", err.msg);
	o.version = TQ_CALIB_OPTS_VERSION + 1;
	tap_ok(tq_job_calibrate(m, text, &o, NULL, &j, &err) == TQ_EINVAL &&
	    j == NULL && strstr(err.msg, "tq_calib_opts") != NULL,
	    "the calibration job refuses them before it starts: %s", err.msg);
	fo.version = 0;
	tap_ok(tq_forward(m, ids, 4, &fo, NULL, &err) == TQ_EINVAL &&
	    strstr(err.msg, "TQ_FORWARD_OPTS_INIT") != NULL,
	    "forward options of version 0: %s", err.msg);
}

/*
 * Several texts: windows split evenly (5 = 3 + 2), each from its own text;
 * one text samples exactly as tq_calib_sample; bad counts refused.
 */
static void
texts_check(const tq_model *m, const char *prose, const tq_calib_opts *o0)
{
	tq_calib_opts o = *o0;
	tq_calib *a = NULL, *b = NULL;
	tq_error err = { TQ_OK, "" };
	const char *paths[TQ_CALIB_MAX_TEXTS + 1];
	char rep[4096] = "", repath[512];
	int32_t *ids = NULL;
	size_t n_ids = 0, i, k;
	int same = 1, in_b = 1, outside = 0;

	for (i = 0; i + 7 < sizeof(rep); i += 6)
		memcpy(rep + i, "hello ", 7);
	snprintf(repath, sizeof(repath), "%s", write_tmp("hello.txt", rep,
	    strlen(rep)));
	o.n_samples = 5;
	paths[0] = prose;
	paths[1] = repath;
	tq_calib_sample(m, prose, &o, &a, &err);
	tq_calib_sample_texts(m, paths, 1, &o, &b, &err);
	for (i = 0; a != NULL && b != NULL && i < 5 * (size_t)o.seqlen; i++)
		same &= tq_calib_ids(a)[i] == tq_calib_ids(b)[i];
	tap_ok(a != NULL && b != NULL && same,
	    "one text: the same samples as tq_calib_sample");
	tq_calib_free(a);
	tq_calib_free(b);
	b = NULL;
	tap_ok(tq_calib_sample_texts(m, paths, 2, &o, &b, &err) == TQ_OK &&
	    tq_calib_n_samples(b) == 5, "two texts: 5 samples");
	tq_tokenizer_encode(tq_model_tokenizer(m), rep, strlen(rep), 0, &ids,
	    &n_ids, &err);
	for (i = 0; b != NULL && ids != NULL && i < 5 * (size_t)o.seqlen; i++) {
		int found = 0;

		for (k = 0; k < n_ids && !found; k++)
			found = ids[k] == tq_calib_ids(b)[i];
		if (i >= 3 * (size_t)o.seqlen)
			in_b &= found;
		else
			outside += !found;
	}
	tap_ok(ids != NULL && in_b && outside > 0, "windows 0-2 from the "
	    "first text, 3-4 from the second (%d tokens outside it)", outside);
	tq_ids_free(ids);
	tq_calib_free(b);
	for (k = 0; k <= TQ_CALIB_MAX_TEXTS; k++)
		paths[k] = repath;
	o.n_samples = 64;
	b = NULL;
	tap_ok(tq_calib_sample_texts(m, paths, TQ_CALIB_MAX_TEXTS + 1, &o, &b,
	    &err) == TQ_EINVAL && b == NULL && strstr(err.msg, "1 to 8 texts"),
	    "nine texts refused: %s", err.msg);
	o.n_samples = 1;
	tap_ok(tq_calib_sample_texts(m, paths, 2, &o, &b, &err) == TQ_EINVAL &&
	    b == NULL, "fewer samples than texts refused");
}

int
main(void)
{
	const char *top = getenv("top_srcdir");
	const char *data = getenv("TQ_SHARED_DATA");
	char demo[1024], text[1024], saved[1100];
	tq_calib_opts o = TQ_CALIB_OPTS_INIT;
	tq_calib *a = NULL, *b = NULL, *l = NULL;
	tq_model *m;
	tq_error err;
	size_t i, sites_ok = 0;
	int same = 1, differ = 0;

	snprintf(demo, sizeof(demo), "%s/assets/demo", top ? top : ".");
	snprintf(text, sizeof(text), "%s/wikitext2-valid.txt",
	    data ? data : "../shared/data");
	if (mkdtemp(tmpdir) == NULL || tq_model_open(demo, &m, &err) != TQ_OK) {
		tap_ok(0, "setup: %s", err.msg);
		return tap_done();
	}
	o.n_samples = 6;
	o.seqlen = 96;
	o.seed = 7;
	tap_ok(tq_calib_sample(m, text, &o, &a, &err) == TQ_OK, "sample");
	tap_ok(tq_calib_sample(m, text, &o, &b, &err) == TQ_OK, "sample again");
	for (i = 0; i < 6 * 96; i++)
		same &= tq_calib_ids(a)[i] == tq_calib_ids(b)[i];
	tap_ok(same, "the same seed gives the same samples");
	tq_calib_free(b);
	o.seed = 8;
	tq_calib_sample(m, text, &o, &b, &err);
	for (i = 0; i < 6 * 96; i++)
		differ |= tq_calib_ids(a)[i] != tq_calib_ids(b)[i];
	tap_ok(differ, "another seed gives other samples");
	tq_calib_free(b);
	texts_check(m, text, &o);

	tap_ok(tq_calib_run(a, m, NULL, NULL, &err) == TQ_OK, "run");
	tap_ok(tq_calib_n_sites(a) == 4 * 4 + 1, "4 sites per block + lm_head");
	for (i = 0; i < tq_calib_n_sites(a); i++) {
		const tq_site_stats *s = tq_calib_site(a, i);
		int64_t j, hsum = 0;
		int ok = s->n_tokens == 6 * 96;

		for (j = 0; j < TQ_HIST_BINS; j++)
			hsum += s->hist[j];
		ok &= hsum == s->n_tokens * s->channels;
		for (j = 0; j < s->channels; j++)
			ok &= s->absmax[j] >= s->mean_abs[j] &&
			    s->mean_sq[j] + 1e-6f >= s->mean_abs[j] * s->mean_abs[j] &&
			    s->mean_abs[j] > 0.0f;
		sites_ok += ok;
	}
	tap_ok(sites_ok == tq_calib_n_sites(a), "statistics are consistent "
	    "(absmax >= mean|x|, mean x^2 >= mean|x|^2, histogram counts every "
	    "value)");
	tap_ok(tq_calib_find(a, 2, TQ_LINEAR_UP) ==
	    tq_calib_find(a, 2, TQ_LINEAR_GATE) &&
	    tq_calib_find(a, 2, TQ_LINEAR_DOWN)->channels == 768,
	    "gate and up share a site; down's input has the MLP width");

	snprintf(saved, sizeof(saved), "%s/calib.safetensors", tmpdir);
	tap_ok(tq_calib_save(a, saved, &err) == TQ_OK, "save");
	tap_ok(tq_calib_load(saved, &l, &err) == TQ_OK, "load: %s",
	    l ? "ok" : err.msg);
	if (l != NULL) {
		const tq_site_stats *x = tq_calib_site(a, 5), *y = tq_calib_site(l, 5);

		tap_ok(tq_calib_n_samples(l) == 6 && tq_calib_seqlen(l) == 96 &&
		    memcmp(tq_calib_ids(a), tq_calib_ids(l), 6 * 96 * 4) == 0 &&
		    memcmp(x->absmax, y->absmax, (size_t)x->channels * 4) == 0 &&
		    memcmp(x->mean_sq, y->mean_sq, (size_t)x->channels * 4) == 0 &&
		    memcmp(x->hist, y->hist, sizeof(int64_t) * TQ_HIST_BINS) == 0,
		    "loaded statistics equal the saved ones");
	}
	tap_ok(tq_calib_load(demo, &b, &err) != TQ_OK,
	    "loading a directory fails: %s", err.msg);
	snprintf(saved, sizeof(saved), "%s/model.safetensors", demo);
	tap_ok(tq_calib_load(saved, &b, &err) == TQ_EFORMAT &&
	    strstr(err.msg, "not a TurboQuant calibration file") != NULL,
	    "loading a model's safetensors fails: %s", err.msg);

	expect_err(m, "empty file", write_tmp("empty.txt", "", 0),
	    "empty text file");
	expect_err(m, "binary file", write_tmp("bin.txt", "ab\0cd", 5),
	    "binary");
	expect_err(m, "text shorter than a sample", write_tmp("short.txt",
	    "just a few words", 16), "shorter than one sample");
	{
		const char *bad = "{\"text\": \"a b c\"}\n{\"txt\": 1}\n";

		expect_err(m, "JSONL line without text", write_tmp("bad.jsonl",
		    bad, strlen(bad)), "line 2");
	}
	{
		char doc[4200];
		const char *p;

		strcpy(doc, "{\"text\": \"");
		for (i = 0; i < 400; i++)
			strcat(doc, "token ");
		strcat(doc, "\"}\n");
		p = write_tmp("good.jsonl", doc, strlen(doc));
		o.n_samples = 2;
		o.seqlen = 64;
		tap_ok(tq_calib_sample(m, p, &o, &b, &err) == TQ_OK,
		    "JSONL calibration text: %s", b ? "ok" : err.msg);
		tq_calib_free(b);
	}
	tq_calib_free(a);
	tq_calib_free(l);
	check_versions(m, text);
	tq_model_close(m);
	tap_rmdir(tmpdir);
	return tap_done();
}
