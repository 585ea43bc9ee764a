/*
 * state_file.c: a quantized state as a directory.
 *
 *   state.json             format, version, model, plan, calibration
 *                          summary, blocks_done, complete, per-layer report
 *   block-NNNN.safetensors the quantized layers of decoder block NNNN
 *   head.safetensors       lm_head and the embeddings, when quantized
 *
 * For each quantized layer NAME: NAME.codes U8 [rows, cols] (one code per
 * weight, as the grid's q - qmin), NAME.params U8 [rows, blocks, 32] (each
 * block's parameters in the type's encoding), NAME.g_idx I32 [cols] with
 * act-order; the metadata gives NAME.scheme.  Every file is written to a
 * temporary name and renamed, and state.json last, so a killed run leaves
 * a state that resumes from its last finished block.
 *
 * state.json's "fingerprint" (model, plan, calibration; 16 hex digits
 * each) is repeated in every block file as turboquant.fingerprint U8 [24]
 * (the three, little-endian).  Reading checks both against each other and
 * against the model, and every code and parameter against its grid, so a
 * state that was edited, copied together or damaged is refused, not
 * evaluated.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "error.h"
#include "fileio.h"
#include "qstate.h"
#include "safetensors.h"
#include "state_file.h"

#define STATE_FORMAT "turboquant-state"
#define STATE_VERSION 2		/* 1: before fingerprints */
#define STATE_FP_TENSOR "turboquant.fingerprint"
#define STATE_FP_BYTES 24
#define STATE_JSON_MAX ((size_t)64 << 20)

static char *
state_block_path(const char *dir, int64_t block)
{
	char name[64];

	if (block < 0)
		snprintf(name, sizeof(name), "head.safetensors");
	else
		snprintf(name, sizeof(name), "block-%04lld.safetensors",
		    (long long)block);
	return tq_path_join(dir, name);
}

/* The linears a file holds: a block's, or lm_head and embeddings. */
static void
state_range(const tq_qstate *s, int64_t block, size_t *first, size_t *count)
{
	if (block < 0) {
		*first = s->n - 2;
		*count = 2;
	} else {
		*first = s->block_first[block];
		*count = s->block_first[block + 1] - *first;
	}
}

/*
 * What quantizing a block changed besides its linears (tq_qblock): up to
 * four float vectors, saved under the model's tensor names, and the
 * activation quantization of its inputs as NAME.act_quant F32 [4, 2]
 * (mode, scale).  block -1 is the head: the final norm and lm_head's input.
 */
static float **
state_vec(const tq_qstate *s, int64_t block, int k, int64_t *len,
    char *name, size_t name_len)
{
	static const char *const leaf[4] = {
		"input_layernorm.weight", "post_attention_layernorm.weight",
		"self_attn.v_proj.bias", "mlp.up_proj.bias"
	};
	tq_qblock *b = &s->blocks[block < 0 ? s->n_layers : block];

	if (block < 0)
		snprintf(name, name_len, "model.norm.weight");
	else
		snprintf(name, name_len, "model.layers.%lld.%s",
		    (long long)block, leaf[k]);
	switch (k) {
	case 0:
		*len = s->hidden;
		return &b->attn_norm;
	case 1:
		*len = s->hidden;
		return &b->ffn_norm;
	case 2:
		*len = s->kv_dim;
		return &b->bv;
	default:
		*len = s->inter;
		return &b->b_up;
	}
}

static int
state_n_vecs(int64_t block)
{
	return block < 0 ? 1 : 4;
}

static void
state_act_name(char *name, size_t len, int64_t block)
{
	if (block < 0)
		snprintf(name, len, "lm_head.act_quant");
	else
		snprintf(name, len, "model.layers.%lld.act_quant",
		    (long long)block);
}

/* The three fingerprints as a block file stores them. */
static void
state_fp_bytes(const tq_qstate *s, uint8_t out[STATE_FP_BYTES])
{
	const uint64_t v[3] = { s->model_fp, s->plan_fp, s->calib_fp };
	int i, k;

	for (i = 0; i < 3; i++)
		for (k = 0; k < 8; k++)
			out[8 * i + k] = (uint8_t)(v[i] >> (8 * k));
}

/*
 * Adds block's vectors, act (filled here, [4, 2]) and the fingerprint (fp,
 * filled here) to w.
 */
static tq_status
state_save_extras(tq_st_writer *w, const tq_qstate *s, int64_t block,
    float *act, uint8_t *fp, tq_error *err)
{
	const int64_t fshape = STATE_FP_BYTES;
	const tq_qblock *b = &s->blocks[block < 0 ? s->n_layers : block];
	int64_t ashape[2] = { TQ_SITES_PER_LAYER, 2 }, len;
	char name[128];
	tq_status st = TQ_OK;
	int k;

	for (k = 0; k < state_n_vecs(block) && st == TQ_OK; k++) {
		float **v = state_vec(s, block, k, &len, name, sizeof(name));

		if (*v != NULL)
			st = tq_st_writer_add(w, name, TQ_DTYPE_F32, 1, &len, *v,
			    err);
	}
	for (k = 0; k < TQ_SITES_PER_LAYER; k++) {
		act[2 * k] = (float)b->act[k].mode;
		act[2 * k + 1] = b->act[k].scale;
	}
	state_act_name(name, sizeof(name), block);
	if (st == TQ_OK)
		st = tq_st_writer_add(w, name, TQ_DTYPE_F32, 2, ashape, act, err);
	state_fp_bytes(s, fp);
	if (st == TQ_OK)
		st = tq_st_writer_add(w, STATE_FP_TENSOR, TQ_DTYPE_U8, 1, &fshape,
		    fp, err);
	return st;
}

/* Reads back what state_save_extras wrote (absent: unchanged). */
static tq_status
state_read_extras(const tq_st_file *f, const char *path, tq_qstate *s,
    int64_t block, tq_error *err)
{
	tq_qblock *b = &s->blocks[block < 0 ? s->n_layers : block];
	const tq_tensor *t;
	int64_t len, i;
	char name[128];
	int k;

	for (k = 0; k < state_n_vecs(block); k++) {
		float **v = state_vec(s, block, k, &len, name, sizeof(name));

		free(*v);
		*v = NULL;
		if ((t = tq_st_find(f, name)) == NULL)
			continue;
		if (t->dtype != TQ_DTYPE_F32 || tq_tensor_numel(t) != len)
			return tq_fail(err, TQ_EFORMAT, "%s: %s has the wrong "
			    "shape", path, name);
		if ((*v = malloc((size_t)len * sizeof(float))) == NULL)
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		tq_tensor_to_f32(t, 0, len, *v);
		for (i = 0; i < len; i++)
			if (!isfinite((*v)[i]))
				return tq_fail(err, TQ_EFORMAT, "%s: %s[%lld] is "
				    "not finite", path, name, (long long)i);
	}
	state_act_name(name, sizeof(name), block);
	if ((t = tq_st_find(f, name)) != NULL) {
		float act[TQ_SITES_PER_LAYER * 2];

		if (t->dtype != TQ_DTYPE_F32 ||
		    tq_tensor_numel(t) != TQ_SITES_PER_LAYER * 2)
			return tq_fail(err, TQ_EFORMAT, "%s: %s has the wrong "
			    "shape", path, name);
		tq_tensor_to_f32(t, 0, TQ_SITES_PER_LAYER * 2, act);
		for (k = 0; k < TQ_SITES_PER_LAYER; k++) {
			float mode = act[2 * k];

			/* Range first: converting NaN or 1e30 to int is UB. */
			if (!(mode >= (float)TQ_ACTQ_NONE &&
			    mode <= (float)TQ_ACTQ_FP8_STATIC) ||
			    mode != floorf(mode) ||
			    !(act[2 * k + 1] >= 0.0f) || isinf(act[2 * k + 1]))
				return tq_fail(err, TQ_EFORMAT, "%s: %s is not a "
				    "valid activation quantization", path, name);
			b->act[k].mode = (tq_actq_mode)(int)mode;
			b->act[k].scale = act[2 * k + 1];
		}
	}
	return TQ_OK;
}

tq_status
tq_state__save_block(const tq_qstate *s, const char *dir, int64_t block,
    tq_error *err)
{
	char *path = NULL, name[160];
	tq_st_writer *w = NULL;
	size_t first, count, i;
	float act[TQ_SITES_PER_LAYER * 2];
	uint8_t fp[STATE_FP_BYTES];
	tq_status st;

	if (!tq_is_dir(dir) && mkdir(dir, 0777) != 0)
		return tq_fail(err, TQ_EIO, "%s: cannot create the state "
		    "directory", dir);
	if ((st = tq_st_writer_new(&w, err)) != TQ_OK)
		return st;
	state_range(s, block, &first, &count);
	for (i = first; i < first + count && st == TQ_OK; i++) {
		const tq_qlayer *q = &s->layers[i];
		int64_t cshape[2] = { q->qt.rows, q->qt.cols };
		int64_t pshape[3] = { q->qt.rows, q->qt.nblocks, 32 };
		char scheme[32];

		if (q->cfg.method == TQ_METHOD_FLOAT)
			continue;
		snprintf(name, sizeof(name), "%s.codes", q->res.name);
		st = tq_st_writer_add(w, name, TQ_DTYPE_U8, 2, cshape,
		    q->qt.codes, err);
		snprintf(name, sizeof(name), "%s.params", q->res.name);
		if (st == TQ_OK)
			st = tq_st_writer_add(w, name, TQ_DTYPE_U8, 3, pshape,
			    q->qt.params, err);
		snprintf(name, sizeof(name), "%s.g_idx", q->res.name);
		if (st == TQ_OK && q->qt.g_idx != NULL)
			st = tq_st_writer_add(w, name, TQ_DTYPE_I32, 1,
			    &cshape[1], q->qt.g_idx, err);
		snprintf(name, sizeof(name), "%s.scheme", q->res.name);
		tq_scheme_name(&q->qt.scheme, scheme, sizeof(scheme));
		if (st == TQ_OK)
			st = tq_st_writer_meta(w, name, scheme, err);
	}
	if (st == TQ_OK)
		st = state_save_extras(w, s, block, act, fp, err);
	if (st == TQ_OK && (st = tq_st_writer_meta(w, "format", STATE_FORMAT,
	    err)) == TQ_OK) {
		if ((path = state_block_path(dir, block)) == NULL)
			st = tq_fail(err, TQ_ENOMEM, "out of memory");
		else
			st = tq_st_writer_write(w, path, err);
	}
	free(path);
	tq_st_writer_free(w);
	return st;
}

/*
 * A finite number with all 17 digits (cJSON's own printing may drop the
 * last bit, and the report must read back exactly), or null: JSON has no
 * NaN.
 */

tq_status
tq_state__save_meta(const tq_qstate *s, const char *dir, tq_error *err)
{
	unsigned long mark = tq_json_begin();
	cJSON *root, *cal, *arr, *plan;
	char hash[32], *path = NULL;
	tq_status st;
	size_t i;

	root = tq_json_doc(STATE_FORMAT, STATE_VERSION, s->model_path,
	    s->n_layers);
	if (root == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	plan = cJSON_Parse(s->plan_json);
	tq_json_add(root, "plan", plan != NULL ? plan :
	    cJSON_CreateNull());
	cal = cJSON_AddObjectToObject(root, "calibration");
	cJSON_AddNumberToObject(cal, "samples", (double)s->n_samples);
	cJSON_AddNumberToObject(cal, "seqlen", (double)s->seqlen);
	snprintf(hash, sizeof(hash), "%" PRIu64, s->seed);
	cJSON_AddStringToObject(cal, "seed", hash);
	snprintf(hash, sizeof(hash), "%016" PRIx64, s->ids_hash);
	cJSON_AddStringToObject(cal, "ids_hash", hash);
	cal = cJSON_AddObjectToObject(root, "fingerprint");
	snprintf(hash, sizeof(hash), "%016" PRIx64, s->model_fp);
	cJSON_AddStringToObject(cal, "model", hash);
	snprintf(hash, sizeof(hash), "%016" PRIx64, s->plan_fp);
	cJSON_AddStringToObject(cal, "plan", hash);
	snprintf(hash, sizeof(hash), "%016" PRIx64, s->calib_fp);
	cJSON_AddStringToObject(cal, "calibration", hash);
	cJSON_AddNumberToObject(root, "blocks_done", (double)s->blocks_done);
	cJSON_AddBoolToObject(root, "complete", s->complete);
	arr = cJSON_AddArrayToObject(root, "layers");
	for (i = 0; i < s->n; i++) {
		const tq_layer_result *r = &s->layers[i].res;
		cJSON *o;

		if (!s->layers[i].done)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", r->name);
		cJSON_AddStringToObject(o, "method", r->method);
		cJSON_AddStringToObject(o, "scheme", r->scheme);
		cJSON_AddNumberToObject(o, "rows", (double)r->rows);
		cJSON_AddNumberToObject(o, "cols", (double)r->cols);
		tq_json_add(o, "rel_err", tq_json_num(r->rel_err));
		tq_json_add(o, "sqnr_db", tq_json_num(r->sqnr_db));
		tq_json_add(o, "max_abs_err",
		    tq_json_num(r->max_abs_err));
		tq_json_add(o, "bpw", tq_json_num(r->bpw));
		tq_json_add(o, "seconds", tq_json_num(r->seconds));
		cJSON_AddNumberToObject(o, "tokens", (double)r->tokens);
		if (r->routed >= 0)
			cJSON_AddNumberToObject(o, "routed", (double)r->routed);
		tq_json_push(arr, o);
	}
	path = tq_path_join(dir, "state.json");
	st = path == NULL ? tq_fail(err, TQ_ENOMEM, "out of memory") :
	    tq_json_save(root, mark, path, err);
	cJSON_Delete(root);
	free(path);
	return st;
}

static double
state_get_num(const cJSON *o, const char *key)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(j) ? j->valuedouble : NAN;
}

/* Whether f was written for s's model, plan and calibration. */
static tq_status
state_check_fp(const tq_st_file *f, const char *path, const tq_qstate *s,
    tq_error *err)
{
	const tq_tensor *t = tq_st_find(f, STATE_FP_TENSOR);
	uint8_t fp[STATE_FP_BYTES];

	state_fp_bytes(s, fp);
	if (t == NULL || t->dtype != TQ_DTYPE_U8 || t->nbytes != STATE_FP_BYTES ||
	    memcmp(t->data, fp, STATE_FP_BYTES) != 0)
		return tq_fail(err, TQ_EFORMAT, "%s: belongs to another "
		    "quantization (its fingerprint is not state.json's)", path);
	return TQ_OK;
}

/* Loads the quantized layers of one file into s. */
static tq_status
state_read_block(tq_qstate *s, const char *dir, int64_t block, tq_error *err)
{
	char *path = state_block_path(dir, block), name[160], what[1024];
	tq_st_file *f = NULL;
	size_t first, count, i;
	tq_status st;

	if (path == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if (access(path, F_OK) != 0)
		st = tq_fail(err, TQ_EFORMAT, "%s: missing (state.json says %lld "
		    "blocks%s are done)", path, (long long)s->blocks_done,
		    s->complete ? " and the head" : "");
	else if ((st = tq_st_open(path, &f, err)) == TQ_OK)
		st = state_check_fp(f, path, s, err);
	state_range(s, block, &first, &count);
	for (i = first; i < first + count && st == TQ_OK; i++) {
		tq_qlayer *q = &s->layers[i];
		const tq_tensor *codes, *params, *gidx;

		if (q->cfg.method == TQ_METHOD_FLOAT) {
			q->done = 1;
			continue;
		}
		tq_qtensor_done(&q->qt);
		if ((st = tq_qtensor_init(&q->qt, &q->cfg.scheme, q->res.rows,
		    q->res.cols, err)) != TQ_OK)
			break;
		snprintf(name, sizeof(name), "%s.codes", q->res.name);
		codes = tq_st_find(f, name);
		snprintf(name, sizeof(name), "%s.params", q->res.name);
		params = tq_st_find(f, name);
		snprintf(name, sizeof(name), "%s.g_idx", q->res.name);
		gidx = tq_st_find(f, name);
		if (codes == NULL || params == NULL ||
		    codes->dtype != TQ_DTYPE_U8 || params->dtype != TQ_DTYPE_U8 ||
		    codes->nbytes != (uint64_t)(q->qt.rows * q->qt.cols) ||
		    params->nbytes != (uint64_t)(q->qt.rows * q->qt.nblocks) *
		    sizeof(tq_qparams) || (gidx != NULL &&
		    (gidx->dtype != TQ_DTYPE_I32 ||
		    tq_tensor_numel(gidx) != q->qt.cols))) {
			st = tq_fail(err, TQ_EFORMAT,
			    "%s: layer %s is missing or has the wrong shape",
			    path, q->res.name);
			break;
		}
		memcpy(q->qt.codes, codes->data, (size_t)codes->nbytes);
		memcpy(q->qt.params, params->data, (size_t)params->nbytes);
		if (gidx != NULL) {
			q->qt.g_idx = malloc((size_t)gidx->nbytes);
			if (q->qt.g_idx == NULL) {
				st = tq_fail(err, TQ_ENOMEM, "out of memory");
				break;
			}
			memcpy(q->qt.g_idx, gidx->data, (size_t)gidx->nbytes);
		}
		snprintf(what, sizeof(what), "%s: %s", path, q->res.name);
		if ((st = tq_qtensor_check(&q->qt, what, err)) != TQ_OK)
			break;
		q->done = 1;
	}
	if (st == TQ_OK)
		st = state_read_extras(f, path, s, block, err);
	tq_st_close(f);
	free(path);
	return st;
}

/* 16 hex digits at key of o into *out; 0 when absent or malformed. */
static int
state_get_hex(const cJSON *o, const char *key, uint64_t *out)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
	char *end;

	if (!cJSON_IsString(j) || strlen(j->valuestring) != 16 ||
	    strspn(j->valuestring, "0123456789abcdef") != 16)
		return 0;
	*out = strtoull(j->valuestring, &end, 16);
	return 1;
}

/* An integer count in [0, max] at key of o, or -1. */
static int64_t
state_get_count(const cJSON *o, const char *key, double max)
{
	double v = state_get_num(o, key);

	return v >= 0.0 && v <= max && v == floor(v) ? (int64_t)v : -1;
}

/*
 * A layer report's "tokens" and "routed" (an expert's) into r: counts of
 * at most N calibration tokens; absent: 0 and -1.
 */
static tq_status
state_tokens(const cJSON *o, const char *path, tq_layer_result *r, double N,
    tq_error *err)
{
	static const char *const keys[2] = { "tokens", "routed" };
	int64_t *dst[2] = { &r->tokens, &r->routed };
	int k;

	for (k = 0; k < 2; k++) {
		if (cJSON_GetObjectItemCaseSensitive(o, keys[k]) == NULL)
			continue;
		if ((*dst[k] = state_get_count(o, keys[k], N)) < 0)
			return tq_fail(err, TQ_EFORMAT, "%s: layer %s: \"%s\" is "
			    "not a count of at most %.0f calibration tokens",
			    path, r->name, keys[k], N);
	}
	return TQ_OK;
}

/* Reads state.json; checks it belongs to s's model, plan and calibration. */
static tq_status
state_read_meta(tq_qstate *s, const char *path, cJSON *root, int check_calib,
    tq_error *err)
{
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
	const cJSON *plan = cJSON_GetObjectItemCaseSensitive(root, "plan");
	const cJSON *cal = cJSON_GetObjectItemCaseSensitive(root, "calibration");
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
	const cJSON *fps = cJSON_GetObjectItemCaseSensitive(root, "fingerprint");
	const cJSON *hash, *seed, *o;
	cJSON *mine;
	int64_t bd = state_get_count(root, "blocks_done", (double)s->n_layers);
	uint64_t fp_model, fp_plan, fp_calib;
	int same, complete;
	size_t i;
	tq_status st;

	if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, STATE_FORMAT) != 0)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: not a TurboQuant quantized state", path);
	if (state_get_num(root, "version") != STATE_VERSION ||
	    !state_get_hex(fps, "model", &fp_model) ||
	    !state_get_hex(fps, "plan", &fp_plan) ||
	    !state_get_hex(fps, "calibration", &fp_calib))
		return tq_fail(err, TQ_EFORMAT, "%s: not a version %d state (older "
		    "states have no fingerprints); quantize the model again",
		    path, STATE_VERSION);
	if (state_get_num(root, "n_layers") != (double)s->n_layers ||
	    bd < 0 || !cJSON_IsObject(cal) || !cJSON_IsArray(layers))
		return tq_fail(err, TQ_EFORMAT,
		    "%s: does not fit this model (%lld blocks)", path,
		    (long long)s->n_layers);
	complete = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root,
	    "complete"));
	if (complete && bd != s->n_layers)
		return tq_fail(err, TQ_EFORMAT, "%s: says complete with %lld of "
		    "%lld blocks done", path, (long long)bd,
		    (long long)s->n_layers);
	if (fp_model != s->model_fp)
		return tq_fail(err, TQ_EINVAL, "%s: was made from another model "
		    "than %s (the fingerprints differ)", path, s->model_path);
	mine = cJSON_Parse(s->plan_json);
	same = mine != NULL && cJSON_Compare(mine, plan, 1);
	cJSON_Delete(mine);
	if (!same)
		return tq_fail(err, TQ_EINVAL,
		    "%s: was made with another plan; resume with the same plan",
		    path);
	hash = cJSON_GetObjectItemCaseSensitive(cal, "ids_hash");
	seed = cJSON_GetObjectItemCaseSensitive(cal, "seed");
	if (check_calib) {
		char want[32];

		snprintf(want, sizeof(want), "%016" PRIx64, s->ids_hash);
		if (!cJSON_IsString(hash) || strcmp(hash->valuestring, want) != 0 ||
		    state_get_num(cal, "samples") != (double)s->n_samples ||
		    state_get_num(cal, "seqlen") != (double)s->seqlen ||
		    fp_calib != s->calib_fp)
			return tq_fail(err, TQ_EINVAL,
			    "%s: was made with other calibration samples; resume "
			    "with the same text, samples, length and seed", path);
	} else {
		s->n_samples = state_get_count(cal, "samples", 1e15);
		s->seqlen = state_get_count(cal, "seqlen", 1e15);
		if (s->n_samples < 0 || s->seqlen < 0)
			return tq_fail(err, TQ_EFORMAT, "%s: the calibration's "
			    "samples and seqlen are not counts", path);
		if (cJSON_IsString(seed))
			s->seed = strtoull(seed->valuestring, NULL, 10);
		if (cJSON_IsString(hash))
			s->ids_hash = strtoull(hash->valuestring, NULL, 16);
		s->calib_fp = tq_state__calib_fp(s);
	}
	if (fp_plan != s->plan_fp || fp_calib != s->calib_fp)
		return tq_fail(err, TQ_EFORMAT, "%s: its %s does not match its "
		    "fingerprint", path, fp_plan != s->plan_fp ? "plan" :
		    "calibration");
	s->blocks_done = bd;
	s->complete = complete;
	/* The report of every finished layer. */
	cJSON_ArrayForEach(o, layers) {
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "name");

		if (!cJSON_IsString(nm))
			continue;
		for (i = 0; i < s->n; i++) {
			tq_layer_result *r = &s->layers[i].res;

			if (strcmp(r->name, nm->valuestring) != 0)
				continue;
			r->rel_err = state_get_num(o, "rel_err");
			r->sqnr_db = state_get_num(o, "sqnr_db");
			r->max_abs_err = state_get_num(o, "max_abs_err");
			/* An exact layer's infinite SQNR was written as null. */
			if (r->max_abs_err == 0.0 && isnan(r->sqnr_db))
				r->sqnr_db = INFINITY;
			r->seconds = state_get_num(o, "seconds");
			/* calibration tokens; an expert's routed ones (optional) */
			if ((st = state_tokens(o, path, r,
			    (double)s->n_samples * (double)s->seqlen, err)) !=
			    TQ_OK)
				return st;
			break;
		}
	}
	return TQ_OK;
}

static tq_status
state_read_dir(tq_qstate *s, const char *dir, int check_calib, tq_error *err)
{
	char *path = tq_path_join(dir, "state.json");
	cJSON *root = NULL;
	tq_status st;
	int64_t b;

	if (path == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if ((st = tq_json_load(path, STATE_JSON_MAX, &root, err)) == TQ_OK)
		st = state_read_meta(s, path, root, check_calib, err);
	for (b = 0; st == TQ_OK && b < s->blocks_done; b++)
		st = state_read_block(s, dir, b, err);
	if (st == TQ_OK && s->complete)
		st = state_read_block(s, dir, -1, err);
	cJSON_Delete(root);
	free(path);
	return st;
}

tq_status
tq_state__read(tq_qstate *s, const char *dir, tq_error *err)
{
	return state_read_dir(s, dir, 1, err);
}

tq_status
tq_state_load(const char *dir, const tq_model *m, tq_qstate **out,
    tq_error *err)
{
	char *path = tq_path_join(dir, "state.json"), *plan_text = NULL;
	const cJSON *plan_j;
	cJSON *root = NULL;
	tq_plan *plan = NULL;
	tq_qstate *s = NULL;
	tq_status st;

	*out = NULL;
	if (path == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if (!tq_is_dir(dir)) {
		st = tq_fail(err, TQ_EINVAL, "%s: not a quantized state "
		    "directory", dir);
		goto out;
	}
	if ((st = tq_json_load(path, STATE_JSON_MAX, &root, err)) != TQ_OK)
		goto out;
	plan_j = cJSON_GetObjectItemCaseSensitive(root, "plan");
	if (!cJSON_IsObject(plan_j) ||
	    (plan_text = cJSON_PrintUnformatted(plan_j)) == NULL) {
		st = tq_fail(err, TQ_EFORMAT, "%s: no plan", path);
		goto out;
	}
	if ((st = tq_plan_parse(plan_text, strlen(plan_text), path, &plan,
	    err)) != TQ_OK ||
	    (st = tq_state__new(m, plan, NULL, &s, err)) != TQ_OK ||
	    (st = state_read_dir(s, dir, 0, err)) != TQ_OK)
		goto out;
	if (!s->complete) {
		st = tq_fail(err, TQ_EINVAL,
		    "%s: the quantization did not finish (%lld of %lld blocks); "
		    "run it again with --resume", dir, (long long)s->blocks_done,
		    (long long)s->n_layers);
		goto out;
	}
	*out = s;
	s = NULL;
out:
	tq_state_free(s);
	tq_plan_free(plan);
	cJSON_Delete(root);
	free(plan_text);
	free(path);
	return st;
}

int
tq_state_is_dir(const char *dir)
{
	char *path = tq_path_join(dir, "state.json");
	int yes = path != NULL && access(path, F_OK) == 0;

	free(path);
	return yes;
}

tq_status
tq_state_model_path(const char *dir, char **out, tq_error *err)
{
	char *path = tq_path_join(dir, "state.json");
	const cJSON *m;
	cJSON *root = NULL;
	tq_status st;

	*out = NULL;
	if (path == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if ((st = tq_json_load(path, STATE_JSON_MAX, &root, err)) == TQ_OK) {
		m = cJSON_GetObjectItemCaseSensitive(root, "model");
		if (!cJSON_IsString(m))
			st = tq_fail(err, TQ_EFORMAT, "%s: no \"model\"", path);
		else if ((*out = strdup(m->valuestring)) == NULL)
			st = tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	cJSON_Delete(root);
	free(path);
	return st;
}

void
tq_state__clean_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL) {
		char *path;

		if (strstr(e->d_name, ".tmp-") == NULL ||
		    (strncmp(e->d_name, "block-", 6) != 0 &&
		    strncmp(e->d_name, "head.", 5) != 0 &&
		    strncmp(e->d_name, "state.json", 10) != 0))
			continue;
		if ((path = tq_path_join(dir, e->d_name)) != NULL)
			(void)unlink(path);
		free(path);
	}
	if (d != NULL)
		closedir(d);
}

int
tq_state__is_complete(const char *dir)
{
	char *path = tq_path_join(dir, "state.json");
	cJSON *root = NULL;
	tq_error err;
	int yes = 0;

	if (path != NULL && access(path, F_OK) == 0 &&
	    tq_json_load(path, STATE_JSON_MAX, &root, &err) == TQ_OK)
		yes = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root,
		    "complete"));
	cJSON_Delete(root);
	free(path);
	return yes;
}

/* A name a state's files have: state.json, block-NNNN or head. */
static int
state_file_name(const char *name)
{
	size_t n = strlen(name);

	return strcmp(name, "state.json") == 0 ||
	    strcmp(name, "head.safetensors") == 0 ||
	    (strncmp(name, "block-", 6) == 0 && n > 18 &&
	    strcmp(name + n - 12, ".safetensors") == 0 &&
	    strspn(name + 6, "0123456789") == n - 18);
}

tq_status
tq_state__remove(const char *dir, tq_error *err)
{
	char *path = tq_path_join(dir, "state.json");
	struct dirent *e;
	tq_status st = TQ_OK;
	DIR *d;

	if (path == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if (unlink(path) != 0 && errno != ENOENT)
		st = tq_fail(err, TQ_EIO, "%s: cannot remove: %s", path,
		    strerror(errno));
	free(path);
	if (st != TQ_OK || (d = opendir(dir)) == NULL)
		return st;
	while (st == TQ_OK && (e = readdir(d)) != NULL) {
		if (!state_file_name(e->d_name))
			continue;
		if ((path = tq_path_join(dir, e->d_name)) == NULL)
			st = tq_fail(err, TQ_ENOMEM, "out of memory");
		else if (unlink(path) != 0 && errno != ENOENT)
			st = tq_fail(err, TQ_EIO, "%s: cannot remove: %s", path,
			    strerror(errno));
		free(path);
	}
	closedir(d);
	return st;
}
