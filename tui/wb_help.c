/*
 * wb_help.c: the `?` overlay listing every key of the workbench, walking
 * the key tables (wb_keys.c): a bordered box over the whole body, opened
 * on the current screen's section, long lines wrapped so nothing is cut;
 * and the overlay's own keys.
 */
#include "config.h"

#include <string.h>

#include <curses.h>

#include "wb.h"

/* The box: the body between the title line and the hint bar. */
#define BOX_Y0 1
#define BOX_H (LINES - 2)
#define KEYS_MAX 18	/* the key column's widest */

/* The width of the key column: the widest keys, up to KEYS_MAX. */
static int
keys_width(void)
{
	char keys[64];
	const char *text;
	size_t i, n = wb_keys_help_count();
	int kw = 0;

	for (i = 0; i < n; i++)
		if (wb_keys_help_line(i, keys, sizeof(keys), &text) == 1 &&
		    (int)strlen(keys) > kw)
			kw = (int)strlen(keys);
	return kw < KEYS_MAX ? kw : KEYS_MAX;
}

/*
 * The length of the first piece of s that fits w columns, cut at a space
 * when there is one; *next is where the next piece starts.
 */
static int
piece(const char *s, int w, const char **next)
{
	int n = (int)strlen(s), cut;

	if (n <= w) {
		*next = s + n;
		return n;
	}
	for (cut = w; cut > 0 && s[cut] != ' '; cut--)
		;
	if (cut == 0)
		cut = w;
	*next = s + cut;
	while (**next == ' ')
		(*next)++;
	return cut;
}

/* How many rows the overlay's line i takes at this width. */
static int
line_rows(size_t i, int kw)
{
	char keys[64];
	const char *text, *next;
	int kind = wb_keys_help_line(i, keys, sizeof(keys), &text);
	int w = kind == 1 ? COLS - kw - 7 : COLS - 4, rows = 0;

	if (kind < 0 || w < 10)
		return kind < 0 ? 0 : 1;
	do {
		piece(text, w, &next);
		text = next;
		rows++;
	} while (*text != '\0');
	return rows;
}

/* Rows of every line, and the row where line `upto` starts. */
static int
rows_before(size_t upto, int kw)
{
	size_t i;
	int rows = 0;

	for (i = 0; i < upto; i++)
		rows += line_rows(i, kw);
	return rows;
}

void
wb_help_open(wb_app *a)
{
	a->help = 1;
	a->help_top = rows_before(wb_keys_help_section(a->screen),
	    keys_width());
}

/* Draws line i's rows from box row *row (counting from the first shown). */
static void
draw_line(wb_app *a, size_t i, int kw, int *row, int inner)
{
	char keys[64];
	const char *text, *next;
	int kind = wb_keys_help_line(i, keys, sizeof(keys), &text);
	int x = kind == 1 ? kw + 5 : 2, w = COLS - x - 2, first = 1, n;
	char buf[512];

	if (w < 10)
		w = 10;
	do {
		n = piece(text, w, &next);
		if (*row >= a->help_top && *row - a->help_top < inner) {
			int y = BOX_Y0 + 1 + *row - a->help_top;

			snprintf(buf, sizeof(buf), "%.*s", n, text);
			if (kind == 0) {
				attron(wb_attr(WB_C_HEADER));
				wb_text(y, x, w, 0, buf);
				attroff(wb_attr(WB_C_HEADER));
			} else {
				if (first) {
					attron(wb_attr(WB_C_KEY));
					wb_textf(y, 3, kw, "%-*s", kw, keys);
					attroff(wb_attr(WB_C_KEY));
				}
				wb_text(y, x, w, 0, buf);
			}
		}
		first = 0;
		text = next;
		(*row)++;
	} while (*text != '\0');
}

void
wb_help_draw(wb_app *a)
{
	int h = BOX_H, inner = h - 2, kw = keys_width(), total, row = 0;
	int x, y, last;
	size_t i, n = wb_keys_help_count();
	char buf[64];

	if (inner < 3 || COLS < 30)
		return;
	total = rows_before(n, kw);
	if (a->help_top > total - inner)
		a->help_top = total - inner > 0 ? total - inner : 0;
	/* the box, blank inside: nothing under it shows through */
	for (y = 0; y < h; y++) {
		move(BOX_Y0 + y, 0);
		clrtoeol();
	}
	attron(wb_attr(WB_C_DIM) & ~A_DIM);
	mvaddch(BOX_Y0, 0, ACS_ULCORNER);
	mvaddch(BOX_Y0 + h - 1, 0, ACS_LLCORNER);
	mvaddch(BOX_Y0, COLS - 1, ACS_URCORNER);
	mvaddch(BOX_Y0 + h - 1, COLS - 1, ACS_LRCORNER);
	for (x = 1; x < COLS - 1; x++) {
		mvaddch(BOX_Y0, x, ACS_HLINE);
		mvaddch(BOX_Y0 + h - 1, x, ACS_HLINE);
	}
	for (y = 1; y < h - 1; y++) {
		mvaddch(BOX_Y0 + y, 0, ACS_VLINE);
		mvaddch(BOX_Y0 + y, COLS - 1, ACS_VLINE);
	}
	attroff(wb_attr(WB_C_DIM) & ~A_DIM);
	attron(wb_attr(WB_C_TITLE));
	wb_text(BOX_Y0, 2, COLS - 4, 0, " Keys ");
	attroff(wb_attr(WB_C_TITLE));
	for (i = 0; i < n && row < a->help_top + inner; i++)
		draw_line(a, i, kw, &row, inner);
	last = row < a->help_top + inner ? row : a->help_top + inner;
	snprintf(buf, sizeof(buf), " %d-%d of %d ", a->help_top + 1, last,
	    total);
	wb_text(BOX_Y0 + h - 1, COLS - 2 - (int)strlen(buf),
	    (int)strlen(buf), 0, buf);
}

/* j k, space and the page keys scroll. */
static void
press_scroll(wb_app *a, int key)
{
	int page = BOX_H - 3 > 1 ? BOX_H - 3 : 1;

	a->help_top += key == 'j' || key == KEY_DOWN ? 1 : key == 'k' ||
	    key == KEY_UP ? -1 : key == KEY_PPAGE ? -page : page;
	if (a->help_top < 0)
		a->help_top = 0;
}

/* g and G: the first line, the last page (wb_help_draw clamps). */
static void
press_ends(wb_app *a, int key)
{
	a->help_top = key == 'g' || key == KEY_HOME ? 0 : 1 << 20;
}

static void
press_close(wb_app *a, int key)
{
	(void)key;
	a->help = 0;
}

static const wb_key keys[] = {
	{ { 'j', KEY_DOWN }, press_scroll, "scroll down", "scroll",
	    WB_ALWAYS },
	{ { 'k', KEY_UP }, press_scroll, "scroll up", "scroll", WB_ALWAYS },
	{ { KEY_NPAGE, ' ' }, press_scroll, "a page down", "page",
	    WB_ALWAYS },
	{ { KEY_PPAGE }, press_scroll, "a page up", "page", WB_ALWAYS },
	{ { 'g', KEY_HOME }, press_ends, "the top (the overlay opens on the "
	    "current screen's keys)", NULL, WB_ALWAYS },
	{ { 'G', KEY_END }, press_ends, "the end", NULL, WB_ALWAYS },
	{ { WB_KEY_ESC, 'q', '?' }, press_close, "close (so does any other "
	    "key)", "close", WB_ALWAYS },
};

const wb_keymap wb_help_keymap = {
	"This help (?)", keys, WB_NKEYS(keys), NULL
};

void
wb_help_key(wb_app *a, int key)
{
	if (!wb_keys_run(a, &wb_help_keymap, key))
		press_close(a, key);
}
