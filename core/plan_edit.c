/*
 * plan_edit.c: editing a plan's rules in place (tq_plan_get_rule,
 * tq_plan_insert_rule, ...), so a front end changes a plan without
 * reading or writing its JSON.  An edited rule is checked as a rule read
 * from a JSON plan is, and its scheme kept in its canonical form, so the
 * plan saves and loads back the same.
 */
#include "config.h"

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif

#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

#include "error.h"
#include "plan.h"

/* The public bits are the plan's own. */
_Static_assert(TQ_PLAN_SET_METHOD == PLAN_SET_METHOD &&
    TQ_PLAN_SET_SCHEME == PLAN_SET_SCHEME &&
    TQ_PLAN_SET_ACT_ORDER == PLAN_SET_ACT_ORDER &&
    TQ_PLAN_SET_DAMP == PLAN_SET_DAMP && TQ_PLAN_SET_CLIP == PLAN_SET_CLIP &&
    TQ_PLAN_SET_IMATRIX == PLAN_SET_IMATRIX &&
    TQ_PLAN_SET_STATIC == PLAN_SET_STATIC &&
    TQ_PLAN_SET_BLOCK == PLAN_SET_BLOCK &&
    TQ_PLAN_SET_ALPHA == PLAN_SET_ALPHA &&
    TQ_PLAN_SET_ACT_BITS == PLAN_SET_ACT_BITS, "setting bits differ");

size_t
tq_plan_n_rules(const tq_plan *p)
{
	return p != NULL ? p->n_rules : 0;
}

tq_status
tq_plan_get_rule(const tq_plan *p, size_t i, tq_plan_rule *out,
    tq_error *err)
{
	memset(out, 0, sizeof(*out));
	if (p == NULL || i >= p->n_rules)
		return tq_fail(err, TQ_EINVAL, "plan: no rule %zu (the plan "
		    "has %zu)", i + 1, p != NULL ? p->n_rules : 0);
	out->match = p->rules[i].match;
	out->mask = p->rules[i].set.mask;
	out->cfg = p->rules[i].set.cfg;
	return TQ_OK;
}

/*
 * Checks r's values (only the keys in its mask) as the JSON reader does
 * and builds the rule from them, its pattern copied and compiled.  where
 * names the rule in messages.
 */
static tq_status
make_rule(const tq_plan *p, const tq_plan_rule *r, const char *where,
    plan_rule *out, tq_error *err)
{
	tq_layer_cfg *c = &out->set.cfg;
	char name[32];
	tq_status st;

	memset(out, 0, sizeof(*out));
	if (r == NULL || r->match == NULL)
		return tq_fail(err, TQ_EINVAL, "%s: %s has no \"match\" "
		    "pattern", p->name, where);
	if (strlen(r->match) > PLAN_MAX_PATTERN)
		return tq_fail(err, TQ_EINVAL, "%s: %s: \"match\" is longer "
		    "than %d bytes", p->name, where, PLAN_MAX_PATTERN);
	if (r->mask == 0 || (r->mask & ~TQ_PLAN_SET_ALL) != 0)
		return tq_fail(err, TQ_EINVAL, "%s: %s: mask %#x gives no "
		    "setting or an unknown one", p->name, where, r->mask);
	tq_layer_cfg_init(c, TQ_METHOD_FLOAT, NULL);
	out->set.mask = r->mask;
	if (r->mask & TQ_PLAN_SET_METHOD) {
		if ((unsigned)r->cfg.method >= TQ_METHOD_COUNT)
			return tq_fail(err, TQ_EINVAL, "%s: %s: unknown method "
			    "%d", p->name, where, (int)r->cfg.method);
		c->method = r->cfg.method;
	}
	if (r->mask & TQ_PLAN_SET_SCHEME) {
		/* by its name, as a JSON rule gives it */
		tq_error e = { TQ_OK, "" };

		if (tq_scheme_check(&r->cfg.scheme, 1, 256, &e) == TQ_OK) {
			tq_scheme_name(&r->cfg.scheme, name, sizeof(name));
			tq_scheme_parse(name, &c->scheme, &e);
		}
		if (e.status != TQ_OK)
			return tq_fail(err, TQ_EINVAL, "%s: %s: %s", p->name,
			    where, e.msg);
	}
	if ((r->mask & TQ_PLAN_SET_DAMP) && !(r->cfg.damp >= 0.0 &&
	    r->cfg.damp <= 1.0))
		return tq_fail(err, TQ_EINVAL, "%s: %s: \"damp\" must be in "
		    "[0, 1], not %g", p->name, where, r->cfg.damp);
	if ((r->mask & TQ_PLAN_SET_SHRINK) && !(r->cfg.hess_shrink >= 0.0 &&
	    r->cfg.hess_shrink <= 1.0))
		return tq_fail(err, TQ_EINVAL, "%s: %s: \"hess_shrink\" must "
		    "be in [0, 1], not %g", p->name, where, r->cfg.hess_shrink);
	if ((r->mask & TQ_PLAN_SET_ALPHA) && !(r->cfg.alpha >= 0.0 &&
	    r->cfg.alpha <= 1.0))
		return tq_fail(err, TQ_EINVAL, "%s: %s: \"alpha\" must be in "
		    "[0, 1], not %g", p->name, where, r->cfg.alpha);
	if ((r->mask & TQ_PLAN_SET_BLOCK) && (r->cfg.block_size < 1 ||
	    r->cfg.block_size > 65536))
		return tq_fail(err, TQ_EINVAL, "%s: %s: \"block_size\" must "
		    "be in [1, 65536], not %lld", p->name, where,
		    (long long)r->cfg.block_size);
	if ((r->mask & TQ_PLAN_SET_ACT_BITS) && r->cfg.act_bits != 8 &&
	    r->cfg.act_bits != 16)
		return tq_fail(err, TQ_EINVAL, "%s: %s: \"act_bits\" must be "
		    "8 or 16, not %d", p->name, where, r->cfg.act_bits);
	/* only the keys given, the rest as a JSON rule leaves them */
	if (r->mask & TQ_PLAN_SET_DAMP)
		c->damp = r->cfg.damp;
	if (r->mask & TQ_PLAN_SET_SHRINK)
		c->hess_shrink = r->cfg.hess_shrink;
	if (r->mask & TQ_PLAN_SET_ALPHA)
		c->alpha = r->cfg.alpha;
	if (r->mask & TQ_PLAN_SET_BLOCK)
		c->block_size = r->cfg.block_size;
	if (r->mask & TQ_PLAN_SET_ACT_BITS)
		c->act_bits = r->cfg.act_bits;
	if (r->mask & TQ_PLAN_SET_ACT_ORDER)
		c->act_order = r->cfg.act_order != 0;
	if (r->mask & TQ_PLAN_SET_CLIP)
		c->clip_search = r->cfg.clip_search != 0;
	if (r->mask & TQ_PLAN_SET_IMATRIX)
		c->use_imatrix = r->cfg.use_imatrix != 0;
	if (r->mask & TQ_PLAN_SET_STATIC)
		c->static_groups = r->cfg.static_groups != 0;
	if (r->mask & TQ_PLAN_SET_AWQ_SCALES)
		c->awq_scales = r->cfg.awq_scales != 0;
	if ((out->match = strdup(r->match)) == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", p->name);
	if ((st = tq_plan__compile_rule(out, p->name, where, err)) != TQ_OK) {
		free(out->match);
		out->match = NULL;
	}
	return st;
}

static void
drop_rule(plan_rule *r)
{
	free(r->match);
	pcre2_code_free(r->re);
}

tq_status
tq_plan_insert_rule(tq_plan *p, size_t i, const tq_plan_rule *r,
    tq_error *err)
{
	plan_rule nr, *rules;
	char where[32];
	tq_status st;

	if (p == NULL || i > p->n_rules)
		return tq_fail(err, TQ_EINVAL, "plan: cannot insert rule %zu "
		    "(the plan has %zu)", i + 1, p != NULL ? p->n_rules : 0);
	if (p->n_rules >= PLAN_MAX_RULES)
		return tq_fail(err, TQ_EINVAL, "%s: more than %d rules",
		    p->name, PLAN_MAX_RULES);
	tq_plan__rule_where(where, sizeof(where), i, NULL);
	if ((st = make_rule(p, r, where, &nr, err)) != TQ_OK)
		return st;
	rules = realloc(p->rules, sizeof(*rules) * (p->n_rules + 1));
	if (rules == NULL) {
		drop_rule(&nr);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", p->name);
	}
	p->rules = rules;
	memmove(rules + i + 1, rules + i, sizeof(*rules) * (p->n_rules - i));
	rules[i] = nr;
	p->n_rules++;
	return TQ_OK;
}

tq_status
tq_plan_remove_rule(tq_plan *p, size_t i, tq_error *err)
{
	if (p == NULL || i >= p->n_rules)
		return tq_fail(err, TQ_EINVAL, "plan: no rule %zu (the plan "
		    "has %zu)", i + 1, p != NULL ? p->n_rules : 0);
	drop_rule(&p->rules[i]);
	memmove(p->rules + i, p->rules + i + 1, sizeof(*p->rules) *
	    (p->n_rules - i - 1));
	p->n_rules--;
	return TQ_OK;
}
