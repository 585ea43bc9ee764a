/*
 * test_wb_keys.c: the workbench's key tables (tui/wb_keys.c), from which
 * the key dispatch, the `?` overlay and the hint bar are all made.  Every
 * binding has keys with names, a handler and a help line; no key is bound
 * twice on a screen, counting the keys every screen has (so which table
 * the dispatch asks first cannot matter); the overlay lists every binding
 * under its screen; the hint bar starts with "? help" and shows every hint
 * that applies, under the binding's first key.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "tap.h"
#include "wb.h"

/* main.c's, which is not linked: cmd_tui (wb_main.c) names it. */
void cli_usage(FILE *f, const char *command);

void
cli_usage(FILE *f, const char *command)
{
	(void)f;
	(void)command;
}

#define N_MAPS (WB_SCR_COUNT + 4)

/* The global map, the screens', a prompt's, a question's, the overlay's. */
static const wb_keymap *
map(int i)
{
	if (i == 0)
		return &wb_global_keymap;
	if (i <= WB_SCR_COUNT)
		return wb_keymap_of((wb_screen)(i - 1));
	return i == WB_SCR_COUNT + 1 ? &wb_prompt_keymap : i == WB_SCR_COUNT +
	    2 ? &wb_question_keymap : &wb_help_keymap;
}

static size_t
n_codes(const wb_key *k)
{
	size_t n = 0;

	while (n < WB_KEY_CODES && k->codes[n] != 0)
		n++;
	return n;
}

/* Counts the bindings of code in km. */
static int
bound(const wb_keymap *km, int code)
{
	size_t i, j;
	int n = 0;

	for (i = 0; i < km->n; i++)
		for (j = 0; j < n_codes(&km->keys[i]); j++)
			n += km->keys[i].codes[j] == code;
	return n;
}

/*
 * Binding k of km is whole: keys with names, bound once on the screen
 * (with the global keys when with_global), a handler, help, a short hint
 * or none; returns how many faults it has.
 */
static int
check_binding(const wb_keymap *km, const wb_key *k, int with_global)
{
	size_t j, n = n_codes(k);
	int bad = 0, c, times;

	if (n == 0 || k->fn == NULL || k->help == NULL || k->help[0] == '\0') {
		tap_diag("%s: \"%s\": no key, handler or help", km->title,
		    k->help != NULL ? k->help : "");
		bad++;
	}
	for (j = 0; j < n; j++) {
		c = k->codes[j];
		if (wb_key_name(c, 0) == NULL || wb_key_name(c, 1) == NULL) {
			tap_diag("%s: key %d has no name", km->title, c);
			bad++;
			continue;
		}
		times = bound(km, c) + (with_global ?
		    bound(&wb_global_keymap, c) : 0);
		if (times != 1) {
			tap_diag("%s: %s is bound %d times", km->title,
			    wb_key_name(c, 0), times);
			bad++;
		}
	}
	if (k->hint != NULL ? k->hint[0] == '\0' || strlen(k->hint) > 12 :
	    k->when != WB_ALWAYS) {
		tap_diag("%s: \"%s\": a bad hint", km->title, k->help);
		bad++;
	}
	return bad;
}

static void
check_bindings(void)
{
	size_t i;
	int m, bad;

	for (m = 0; m < N_MAPS; m++) {
		const wb_keymap *km = map(m);
		int with_global = m > 0 && m <= WB_SCR_COUNT;

		if (!tap_ok(km != NULL && km->title != NULL && km->n > 0,
		    "map %d has a title and bindings", m))
			continue;
		for (i = 0, bad = 0; i < km->n; i++)
			bad += check_binding(km, &km->keys[i], with_global);
		tap_ok(bad == 0, "%s: every binding has keys with names, a "
		    "handler, help, a short hint or none; no key is bound "
		    "twice%s", km->title, with_global ? " (with the global "
		    "keys)" : "");
	}
}

/* The overlay: each map's title, its bindings in order, its note. */
static void
check_help(void)
{
	char keys[64];
	const char *text;
	size_t i, line = 0, total = 0;
	int m, bad = 0;

	for (m = 0; m < N_MAPS; m++)
		total += 1 + map(m)->n + (map(m)->note != NULL);
	tap_ok(wb_keys_help_count() == total, "the overlay has %zu lines "
	    "(%zu)", total, wb_keys_help_count());
	for (m = 0; m < N_MAPS; m++) {
		const wb_keymap *km = map(m);

		if (wb_keys_help_line(line++, keys, sizeof(keys), &text) !=
		    0 || text != km->title) {
			tap_diag("line %zu is not the title %s", line - 1,
			    km->title);
			bad++;
		}
		for (i = 0; i < km->n; i++)
			if (wb_keys_help_line(line++, keys, sizeof(keys),
			    &text) != 1 || text != km->keys[i].help ||
			    keys[0] == '\0') {
				tap_diag("line %zu is not \"%s\"", line - 1,
				    km->keys[i].help);
				bad++;
			}
		if (km->note != NULL && (wb_keys_help_line(line++, keys,
		    sizeof(keys), &text) != 0 || text != km->note))
			bad++;
	}
	tap_ok(bad == 0 && wb_keys_help_line(line, keys, sizeof(keys),
	    &text) == -1, "the overlay lists every map's bindings under its "
	    "title");
}

/* One binding's line of the overlay, by its help text. */
static const char *
help_keys(const char *help)
{
	static char keys[64];
	const char *text;
	size_t i;

	for (i = 0; wb_keys_help_line(i, keys, sizeof(keys), &text) >= 0;
	    i++)
		if (text != NULL && strcmp(text, help) == 0)
			return keys;
	return "";
}

static void
check_names(void)
{
	tap_ok(strcmp(help_keys("layer detail"), "Enter l Right") == 0,
	    "Enter's three codes show once: \"%s\"",
	    help_keys("layer detail"));
	tap_ok(strcmp(help_keys("screens: layers, detail, runs/log, "
	    "validate, teach, mix"), "1-6") == 0, "1 to 6 show as 1-6");
	tap_ok(strcmp(help_keys("undo / redo a plan change"), "u Ctrl-R") ==
	    0, "Ctrl keys are named: \"%s\"",
	    help_keys("undo / redo a plan change"));
}

/* Whether binding k's hint is on the bar h[n]. */
static int
hinted(const wb_key *k, const wb_hint *h, size_t n)
{
	const char *first = wb_key_name(k->codes[0], 1);
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(h[i].what, k->hint) == 0 && strstr(h[i].key,
		    first) != NULL)
			return 1;
	return 0;
}

static void
check_hints(void)
{
	wb_hint h[32];
	size_t n, i;
	int s, busy, bad, w, m;

	for (s = 0; s < WB_SCR_COUNT; s++)
		for (busy = 0; busy < 2; busy++) {
			const wb_keymap *maps[2] = { &wb_global_keymap,
				wb_keymap_of((wb_screen)s) };

			n = wb_keys_hints((wb_screen)s, busy, h, 32);
			bad = n == 0 || strcmp(h[0].key, "?") != 0 ||
			    strcmp(h[0].what, "help") != 0;
			for (m = 0; m < 2; m++)
				for (i = 0; i < maps[m]->n; i++) {
					const wb_key *k = &maps[m]->keys[i];

					if (k->hint == NULL ||
					    (k->when == WB_IDLE && busy) ||
					    (k->when == WB_BUSY && !busy))
						continue;
					if (!hinted(k, h, n)) {
						tap_diag("no hint for \"%s\"",
						    k->help);
						bad++;
					}
				}
			for (i = 0, w = 0; i < n; i++)
				w += (int)(strlen(h[i].key) +
				    strlen(h[i].what) + 2);
			tap_diag("%s%s: %d columns of hints",
			    wb_keymap_of((wb_screen)s)->title,
			    busy ? ", busy" : "", w);
			tap_ok(!bad, "%s%s: the hint bar starts with ? help "
			    "and has every hint", wb_keymap_of((wb_screen)s)->
			    title, busy ? " during a run" : "");
		}
}

/* The dispatch asks the screen's map, then the global one. */
static void
check_dispatch(void)
{
	wb_app *a = calloc(1, sizeof(*a));

	if (a == NULL)
		exit(1);
	a->screen = WB_SCR_RUNS;
	tap_ok(wb_keys_dispatch(a, '6') && a->screen == WB_SCR_MIX,
	    "6 (global) opens the mix screen");
	tap_ok(wb_keys_dispatch(a, WB_KEY_ESC) && a->screen ==
	    WB_SCR_BROWSER, "Esc (the mix screen's) goes back");
	tap_ok(wb_keys_dispatch(a, '\t') && a->screen == WB_SCR_DETAIL &&
	    wb_keys_dispatch(a, 'h') && a->screen == WB_SCR_BROWSER,
	    "Tab, then the detail's h");
	tap_ok(wb_keys_dispatch(a, 't') && a->screen == WB_SCR_TEACH,
	    "t opens teaching mode");
	tap_ok(!wb_keys_dispatch(a, 'Z') && !wb_keys_dispatch(a, KEY_F(5)),
	    "an unbound key is nobody's");
	a->help = 1;
	wb_help_key(a, 'j');
	tap_ok(a->help == 1 && a->help_top == 1, "j scrolls the help");
	wb_help_key(a, 'Z');
	tap_ok(a->help == 0, "any other key closes it");
	free(a);
}

int
main(void)
{
	check_bindings();
	check_help();
	check_names();
	check_hints();
	check_dispatch();
	return tap_done();
}
