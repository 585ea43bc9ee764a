/*
 * mixopt.c: the best per-layer settings for a size budget.
 *
 * Each layer l offers the menu's settings k, each costing bits(l, k) =
 * bpw * params and predicting loss(l, k) = coefficient * relative error
 * (sens.c).  Minimizing the sum of losses under a total-bits budget is a
 * multiple-choice knapsack.  Its Lagrangian relaxation is solved exactly by
 * walking each layer's lower convex hull of (bits, loss): start every layer
 * at its smallest setting and take the hull steps of all layers in order of
 * loss saved per bit, largest first.  Every prefix of that order is a point
 * of the Pareto frontier; for a budget, the steps are taken while they fit,
 * then the budget left is filled greedily with any single-layer change
 * that saves the most loss per bit.  Ties go to the lower layer and menu
 * index, so results are deterministic.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "plan.h"
#include "sens.h"

/* A hull step of one layer: from setting `from` to `to`. */
typedef struct mix_step {
	size_t layer, from, to, order;	/* order: position on the hull */
	double slope;			/* loss saved per bit */
} mix_step;

typedef struct mix_pt {
	size_t k;
	double bits, loss;
} mix_pt;

static int
pt_cmp(const void *a, const void *b)
{
	const mix_pt *x = a, *y = b;

	if (x->bits != y->bits)
		return x->bits < y->bits ? -1 : 1;
	if (x->loss != y->loss)
		return x->loss < y->loss ? -1 : 1;
	return x->k < y->k ? -1 : x->k > y->k;
}

static int
step_cmp(const void *a, const void *b)
{
	const mix_step *x = a, *y = b;

	if (x->slope != y->slope)
		return x->slope > y->slope ? -1 : 1;
	if (x->layer != y->layer)
		return x->layer < y->layer ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static double
opt_bits(const tq_sens *s, size_t l, size_t k)
{
	return s->bpw[l * s->n_menu + k] * (double)s->params[l];
}

static double
opt_loss(const tq_sens *s, size_t l, size_t k)
{
	return s->err[l * s->n_menu + k] * s->coef[l];
}

static int
opt_valid(const tq_sens *s, size_t l, size_t k)
{
	return !isnan(s->bpw[l * s->n_menu + k]) &&
	    !isnan(s->err[l * s->n_menu + k]) && !isnan(s->coef[l]) &&
	    !s->off[l * s->n_menu + k];
}

/*
 * Marks in off[n, n_menu] the cells item leaves out: a menu entry on every
 * layer, or a grid wherever an entry gives a layer that grid (after the
 * shape fallback).  Fails when it matches nothing.
 */
static tq_status
exclude_item(const tq_sens *s, const tq_model *m, const char *item,
    unsigned char *off, tq_error *err)
{
	char want[32], got[32];
	size_t l, k, hits = 0;
	tq_status st;

	if (strchr(item, ':') != NULL) {
		tq_sens_opt o;

		if ((st = tq_sens__parse_opt(item, &o, err)) != TQ_OK)
			return st;
		for (k = 0; k < s->n_menu; k++)
			if (strcmp(o.name, s->menu[k].name) == 0)
				break;
		if (k == s->n_menu)
			return tq_fail(err, TQ_EINVAL, "exclusion \"%s\": %s is "
			    "not an entry of the table's menu", item, o.name);
		for (l = 0; l < s->n; l++)
			off[l * s->n_menu + k] = 1;
		return TQ_OK;
	}
	{
		tq_scheme sch;

		if ((st = tq_scheme_parse(item, &sch, err)) != TQ_OK)
			return tq_fail(err, st, "exclusion \"%s\": neither a "
			    "grid nor a menu entry (METHOD:SCHEME)", item);
		tq_scheme_name(&sch, want, sizeof(want));
	}
	for (l = 0; l < s->n; l++) {
		int64_t rows, cols;

		tq_model_linear_shape(m, s->first[l], &rows, &cols);
		for (k = 0; k < s->n_menu; k++) {
			tq_scheme sch;

			if (!tq_sens__scheme(&s->menu[k], rows, cols, &sch))
				continue;
			tq_scheme_name(&sch, got, sizeof(got));
			if (strcmp(want, got) == 0) {
				off[l * s->n_menu + k] = 1;
				hits++;
			}
		}
	}
	if (hits == 0)
		return tq_fail(err, TQ_EINVAL, "exclusion \"%s\": no entry of "
		    "the table's menu gives any layer the grid %s", item, want);
	return TQ_OK;
}

tq_status
tq_sens_exclude(tq_sens *s, const tq_model *m, const char *const *items,
    size_t n, tq_error *err)
{
	size_t cells = s->n * s->n_menu, i, l, k;
	unsigned char *off = malloc(cells + 1);
	tq_status st = TQ_OK;

	if (off == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	/* On a copy: a failed call excludes nothing. */
	memcpy(off, s->off, cells);
	for (i = 0; i < n && st == TQ_OK; i++)
		st = exclude_item(s, m, items[i], off, err);
	for (l = 0; l < s->n && st == TQ_OK; l++) {
		for (k = 0; k < s->n_menu; k++)
			if (!off[l * s->n_menu + k] &&
			    !isnan(s->bpw[l * s->n_menu + k]) &&
			    !isnan(s->err[l * s->n_menu + k]))
				break;
		if (k == s->n_menu)
			st = tq_fail(err, TQ_EINVAL, "the exclusions leave %s "
			    "no setting of the menu", s->names[l]);
	}
	if (st == TQ_OK)
		memcpy(s->off, off, cells);
	free(off);
	return st;
}

/*
 * The hull steps of every layer (*steps, sorted) and each layer's smallest
 * setting (start[n]).
 */
static tq_status
opt_steps(const tq_sens *s, size_t *start, mix_step **steps, size_t *n_steps,
    tq_error *err)
{
	mix_pt *pts = malloc((s->n_menu ? s->n_menu : 1) * sizeof(*pts));
	mix_pt *hull = malloc((s->n_menu ? s->n_menu : 1) * sizeof(*hull));
	mix_step *st = malloc((s->n * s->n_menu + 1) * sizeof(*st));
	size_t l, k, ns = 0;

	if (pts == NULL || hull == NULL || st == NULL) {
		free(pts);
		free(hull);
		free(st);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	for (l = 0; l < s->n; l++) {
		size_t np = 0, nh = 0, i;

		for (k = 0; k < s->n_menu; k++)
			if (opt_valid(s, l, k)) {
				pts[np].k = k;
				pts[np].bits = opt_bits(s, l, k);
				pts[np].loss = opt_loss(s, l, k);
				np++;
			}
		if (np == 0) {
			free(pts);
			free(hull);
			free(st);
			return tq_fail(err, TQ_EINVAL, "%s: no setting of the menu "
			    "fits this layer", s->names[l]);
		}
		qsort(pts, np, sizeof(*pts), pt_cmp);
		/* Lower convex hull with loss strictly falling. */
		for (i = 0; i < np; i++) {
			if (nh > 0 && pts[i].loss >= hull[nh - 1].loss)
				continue;
			while (nh >= 2) {
				const mix_pt *a = &hull[nh - 2], *b = &hull[nh - 1];
				double cross = (b->bits - a->bits) *
				    (pts[i].loss - a->loss) -
				    (b->loss - a->loss) * (pts[i].bits - a->bits);

				/* b on or above the segment a -> i: drop it. */
				if (cross <= 0.0)
					nh--;
				else
					break;
			}
			hull[nh++] = pts[i];
		}
		start[l] = hull[0].k;
		for (i = 0; i + 1 < nh; i++) {
			st[ns].layer = l;
			st[ns].from = hull[i].k;
			st[ns].to = hull[i + 1].k;
			st[ns].order = i;
			st[ns].slope = (hull[i].loss - hull[i + 1].loss) /
			    (hull[i + 1].bits - hull[i].bits);
			ns++;
		}
	}
	qsort(st, ns, sizeof(*st), step_cmp);
	free(pts);
	free(hull);
	*steps = st;
	*n_steps = ns;
	return TQ_OK;
}

static double
total_params(const tq_sens *s)
{
	double p = 0.0;
	size_t l;

	for (l = 0; l < s->n; l++)
		p += (double)s->params[l];
	return p;
}

/* Fills a mix's bpw and pred from its choices. */
static void
mix_measure(const tq_sens *s, tq_mix *m)
{
	double bits = 0.0, loss = 0.0;
	size_t l;

	for (l = 0; l < s->n; l++) {
		bits += opt_bits(s, l, m->choice[l]);
		loss += opt_loss(s, l, m->choice[l]);
	}
	m->bpw = bits / total_params(s);
	m->pred = loss;
}

void
tq_mix_free(tq_mix *mix)
{
	if (mix == NULL)
		return;
	free(mix->choice);
	mix->choice = NULL;
}

void
tq_mix_free_all(tq_mix *mixes, size_t n)
{
	size_t i;

	for (i = 0; mixes != NULL && i < n; i++)
		free(mixes[i].choice);
	free(mixes);
}

tq_status
tq_sens_frontier(const tq_sens *s, tq_mix **mixes, size_t *n,
    tq_error *err)
{
	size_t *cur = malloc((s->n ? s->n : 1) * sizeof(*cur));
	mix_step *steps = NULL;
	size_t ns = 0, i;
	tq_mix *out = NULL;
	tq_status st;

	*mixes = NULL;
	*n = 0;
	if (cur == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if ((st = opt_steps(s, cur, &steps, &ns, err)) != TQ_OK)
		goto fail;
	if ((out = calloc(ns + 1, sizeof(*out))) == NULL)
		goto nomem;
	for (i = 0; i <= ns; i++) {
		if (i > 0)
			cur[steps[i - 1].layer] = steps[i - 1].to;
		if ((out[i].choice = malloc((s->n ? s->n : 1) *
		    sizeof(size_t))) == NULL)
			goto nomem;
		memcpy(out[i].choice, cur, s->n * sizeof(size_t));
		mix_measure(s, &out[i]);
	}
	free(cur);
	free(steps);
	*mixes = out;
	*n = ns + 1;
	return TQ_OK;
nomem:
	st = tq_fail(err, TQ_ENOMEM, "out of memory");
fail:
	tq_mix_free_all(out, ns + 1);
	free(cur);
	free(steps);
	return st;
}

tq_status
tq_sens_optimize(const tq_sens *s, double target_bpw, tq_mix *out,
    tq_error *err)
{
	double budget = target_bpw * total_params(s), bits = 0.0;
	mix_step *steps = NULL;
	size_t ns = 0, i, l, k;
	size_t *cur = malloc((s->n ? s->n : 1) * sizeof(*cur));
	tq_status st;

	memset(out, 0, sizeof(*out));
	if (cur == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if ((st = opt_steps(s, cur, &steps, &ns, err)) != TQ_OK) {
		free(cur);
		return st;
	}
	for (l = 0; l < s->n; l++)
		bits += opt_bits(s, l, cur[l]);
	if (bits > budget * (1.0 + 1e-12)) {
		free(cur);
		free(steps);
		return tq_fail(err, TQ_EINVAL, "%.3f bits per weight is below "
		    "the smallest the menu allows (%.3f)", target_bpw,
		    bits / total_params(s));
	}
	/* The Lagrangian steps, in order, while they fit. */
	for (i = 0; i < ns; i++) {
		const mix_step *p = &steps[i];
		double d = opt_bits(s, p->layer, p->to) -
		    opt_bits(s, p->layer, p->from);

		if (cur[p->layer] != p->from || bits + d > budget)
			break;
		cur[p->layer] = p->to;
		bits += d;
	}
	/* Then any change that saves loss and fits, best per bit first. */
	for (;;) {
		size_t bl = 0, bk = 0;
		double best = 0.0;
		int found = 0;

		for (l = 0; l < s->n; l++)
			for (k = 0; k < s->n_menu; k++) {
				double db, dl, v;

				if (!opt_valid(s, l, k) || k == cur[l])
					continue;
				db = opt_bits(s, l, k) - opt_bits(s, l, cur[l]);
				dl = opt_loss(s, l, cur[l]) - opt_loss(s, l, k);
				if (dl <= 0.0 || bits + db > budget)
					continue;
				v = db <= 0.0 ? INFINITY : dl / db;
				if (!found || v > best) {
					found = 1;
					best = v;
					bl = l;
					bk = k;
				}
			}
		if (!found)
			break;
		bits += opt_bits(s, bl, bk) - opt_bits(s, bl, cur[bl]);
		cur[bl] = bk;
	}
	free(steps);
	out->choice = cur;
	mix_measure(s, out);
	return TQ_OK;
}

/* The keys of c a rule gives its layer (those tq_sens_plan always gave). */
static unsigned
rule_keys(const tq_layer_cfg *c)
{
	if (c->method == TQ_METHOD_FLOAT)
		return PLAN_SET_METHOD;
	return PLAN_SET_METHOD | PLAN_SET_SCHEME |
	    (c->use_imatrix ? PLAN_SET_IMATRIX : 0) |
	    (c->clip_search ? PLAN_SET_CLIP : 0);
}

tq_status
tq_sens_plan(const tq_sens *s, const tq_mix *mix, const tq_model *m,
    const tq_plan *base, tq_plan **out, tq_error *err)
{
	size_t l, n = s->n + (base != NULL && m != NULL ? 2 : 0);
	tq_plan *p;
	tq_status st = TQ_OK;

	*out = NULL;
	if (n > PLAN_MAX_RULES)
		return tq_fail(err, TQ_EFORMAT, "optimized plan: %zu rules, "
		    "more than %d", n, PLAN_MAX_RULES);
	if ((p = tq_plan__alloc("optimized plan")) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	/* Float but for the rules: every layer gets one. */
	p->def.mask = PLAN_SET_METHOD;
	for (l = 0; l < s->n && st == TQ_OK; l++) {
		const tq_layer_cfg *c = &s->menu[mix->choice[l]].cfg;
		int64_t rows, cols;

		/* A layer the entry does not fit takes the table's fallback. */
		if (m != NULL) {
			tq_model_linear_shape(m, s->first[l], &rows, &cols);
			if (tq_scheme_check(&c->scheme, rows, cols, NULL) !=
			    TQ_OK)
				p->fallback = 1;
		}
		char pat[256];
		size_t i, j = 0, w = 1;

		/*
		 * The layer's own name, dots escaped, anchored, a group's "*"
		 * any expert; cut where its JSON form (each backslash
		 * doubled) would have been.
		 */
		pat[j++] = '^';
		for (i = 0; s->names[l][i] != '\0' && w + 10 < sizeof(pat);
		    i++) {
			if (s->names[l][i] == '*') {
				memcpy(pat + j, "[0-9]+", 6);
				j += 6;
				w += 6;
				continue;
			}
			if (s->names[l][i] == '.')
				pat[j++] = '\\';
			pat[j++] = s->names[l][i];
			w += s->names[l][i] == '.' ? 3 : 1;
		}
		pat[j++] = '$';
		pat[j] = '\0';
		st = tq_plan__add_rule(p, pat, c, rule_keys(c), err);
	}
	if (st == TQ_OK && base != NULL && m != NULL) {
		static const char *const heads[2][2] = {
			{ "lm_head", "^lm_head$" },
			{ "model.embed_tokens", "^model\\.embed_tokens$" }
		};
		tq_layer_cfg c;
		int h;

		for (h = 0; h < 2 && st == TQ_OK; h++) {
			st = tq_plan_resolve(base, m, heads[h][0], &c, err);
			if (st == TQ_OK)
				st = tq_plan__add_rule(p, heads[h][1], &c,
				    rule_keys(&c), err);
		}
	}
	if (st != TQ_OK) {
		tq_plan_free(p);
		return st;
	}
	*out = p;
	return TQ_OK;
}
