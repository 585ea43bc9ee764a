/*
 * wb_keys.c: key bindings as data.  Each screen's file owns a table of
 * wb_key (wb.h); from those tables alone this file dispatches a key, lists
 * the `?` overlay's lines and makes the hint bar, so a key cannot work
 * without its help line nor be hinted without working.  The modal keys (a
 * prompt's line editing, a y/n question) stay with their prompt.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <curses.h>

#include "wb.h"

/* The screens' maps, in wb_screen order. */
static const wb_keymap *const screen_maps[WB_SCR_COUNT] = {
	&wb_browser_keymap, &wb_detail_keymap, &wb_runs_keymap,
	&wb_valid_keymap, &wb_teach_keymap, &wb_mix_keymap
};

/*
 * The overlay's sections: everywhere, the screens, a prompt's line editing,
 * a question's answers, the overlay itself.
 */
static const wb_keymap *
section(size_t i)
{
	if (i == 0)
		return &wb_global_keymap;
	if (i <= WB_SCR_COUNT)
		return screen_maps[i - 1];
	if (i == WB_SCR_COUNT + 1)
		return &wb_prompt_keymap;
	if (i == WB_SCR_COUNT + 2)
		return &wb_question_keymap;
	return i == WB_SCR_COUNT + 3 ? &wb_help_keymap : NULL;
}

const wb_keymap *
wb_keymap_of(wb_screen s)
{
	return (unsigned)s < WB_SCR_COUNT ? screen_maps[s] : NULL;
}

static const wb_key *
lookup(const wb_keymap *m, int key)
{
	size_t i, j;

	for (i = 0; i < m->n; i++)
		for (j = 0; j < WB_KEY_CODES && m->keys[i].codes[j] != 0; j++)
			if (m->keys[i].codes[j] == key)
				return &m->keys[i];
	return NULL;
}

int
wb_keys_run(wb_app *a, const wb_keymap *m, int key)
{
	const wb_key *k = lookup(m, key);

	if (k == NULL)
		return 0;
	k->fn(a, key);
	return 1;
}

int
wb_keys_dispatch(wb_app *a, int key)
{
	return wb_keys_run(a, screen_maps[a->screen], key) ||
	    wb_keys_run(a, &wb_global_keymap, key);
}

void
wb_key_back(wb_app *a, int key)
{
	(void)key;
	a->screen = WB_SCR_BROWSER;
}

const char *
wb_key_name(int code, int brief)
{
	static const struct {
		int code;
		const char *name, *brief;
	} named[] = {
		{ WB_KEY_ESC, "Esc", "Esc" }, { '\r', "Enter", "Enter" },
		{ '\n', "Enter", "Enter" }, { KEY_ENTER, "Enter", "Enter" },
		{ '\t', "Tab", "Tab" }, { KEY_BTAB, "S-Tab", "S-Tab" },
		{ ' ', "space", "spc" }, { KEY_UP, "Up", "Up" },
		{ KEY_DOWN, "Down", "Dn" }, { KEY_LEFT, "Left", "Left" },
		{ KEY_RIGHT, "Right", "Right" }, { KEY_PPAGE, "PgUp", "PgUp" },
		{ KEY_NPAGE, "PgDn", "PgDn" }, { KEY_HOME, "Home", "Home" },
		{ KEY_END, "End", "End" }, { KEY_MOUSE, "mouse", "mouse" },
		{ KEY_BACKSPACE, "Backspace", "BS" }, { 127, "Backspace", "BS" },
	};
	static char buf[8];
	size_t i;

	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (named[i].code == code)
			return brief ? named[i].brief : named[i].name;
	if (code > ' ' && code < 127) {
		snprintf(buf, sizeof(buf), "%c", code);
		return buf;
	}
	if (code >= WB_CTRL('a') && code <= WB_CTRL('z')) {
		snprintf(buf, sizeof(buf), "%s%c", brief ? "^" : "Ctrl-",
		    code + 'A' - 1);
		return buf;
	}
	return NULL;
}

/*
 * A binding's key names, sep between them: codes that follow one another
 * by one (1 2 3 4 5 6) as a range, a name the previous code had (\r \n
 * KEY_ENTER) once.  With brief, the short names of the first key and of
 * the printable ones that follow it ("m/b/z/y", "1-6", "Esc").
 */
#define GRAPHIC(c) ((c) > ' ' && (c) < 127)

static void
key_names(const wb_key *k, int brief, const char *sep, char *buf,
    size_t len)
{
	char prev[16] = "";
	size_t j, n, used = 0;
	const char *name;

	buf[0] = '\0';
	for (j = 0; j < WB_KEY_CODES && k->codes[j] != 0; j = n) {
		for (n = j + 1; n < WB_KEY_CODES && GRAPHIC(k->codes[n]) &&
		    k->codes[n] == k->codes[n - 1] + 1; n++)
			;
		if (n - j < 3)
			n = j + 1;
		if ((name = wb_key_name(k->codes[j], brief)) == NULL)
			name = "?";
		if (strcmp(name, prev) == 0)
			continue;
		snprintf(prev, sizeof(prev), "%s", name);
		if (n - j > 1)
			used += (size_t)snprintf(buf + used, len - used,
			    "%s%s-%c", used > 0 ? sep : "", name,
			    k->codes[n - 1]);
		else
			used += (size_t)snprintf(buf + used, len - used,
			    "%s%s", used > 0 ? sep : "", name);
		if (used >= len || (brief && (!GRAPHIC(k->codes[j]) ||
		    n == WB_KEY_CODES || !GRAPHIC(k->codes[n]))))
			return;
	}
}

size_t
wb_keys_help_section(wb_screen s)
{
	const wb_keymap *m;
	size_t i, n = 0;

	for (i = 0; (m = section(i)) != NULL; i++) {
		if (m == wb_keymap_of(s))
			return n;
		n += 1 + m->n + (m->note != NULL);
	}
	return 0;
}

size_t
wb_keys_help_count(void)
{
	const wb_keymap *m;
	size_t i, n = 0;

	for (i = 0; (m = section(i)) != NULL; i++)
		n += 1 + m->n + (m->note != NULL);
	return n;
}

int
wb_keys_help_line(size_t i, char *keys, size_t len, const char **text)
{
	const wb_keymap *m;
	size_t s;

	keys[0] = '\0';
	for (s = 0; (m = section(s)) != NULL; s++) {
		if (i == 0) {
			*text = m->title;
			return 0;
		}
		if (i <= m->n) {
			key_names(&m->keys[i - 1], 0, " ", keys, len);
			*text = m->keys[i - 1].help;
			return 1;
		}
		i -= 1 + m->n;
		if (m->note != NULL) {
			if (i == 0) {
				*text = m->note;
				return 0;
			}
			i--;
		}
	}
	*text = NULL;
	return -1;
}

/* Appends m's hints for busy to h[*n]; equal neighbours join "j/k". */
static void
add_hints(const wb_keymap *m, int busy, wb_hint *h, size_t *n, size_t max)
{
	char name[24];
	size_t i, l;

	for (i = 0; i < m->n; i++) {
		const wb_key *k = &m->keys[i];

		if (k->hint == NULL || (k->when == WB_IDLE && busy) ||
		    (k->when == WB_BUSY && !busy))
			continue;
		key_names(k, 1, "/", name, sizeof(name));
		if (*n > 0 && strcmp(h[*n - 1].what, k->hint) == 0) {
			l = strlen(h[*n - 1].key);
			snprintf(h[*n - 1].key + l, sizeof(h[0].key) - l,
			    "/%s", name);
			continue;
		}
		if (*n == max)
			return;
		snprintf(h[*n].key, sizeof(h[0].key), "%s", name);
		h[(*n)++].what = k->hint;
	}
}

size_t
wb_keys_hints(wb_screen s, int busy, wb_hint *h, size_t max)
{
	size_t n = 0;

	add_hints(&wb_global_keymap, busy, h, &n, max);
	if ((unsigned)s < WB_SCR_COUNT)
		add_hints(screen_maps[s], busy, h, &n, max);
	return n;
}

size_t
wb_keys_map_hints(const wb_keymap *m, wb_hint *h, size_t max)
{
	size_t n = 0;

	add_hints(m, 0, h, &n, max);
	return n;
}
