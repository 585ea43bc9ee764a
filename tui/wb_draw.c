/*
 * wb_draw.c: drawing helpers of the workbench: colours by meaning (with a
 * monochrome fallback and NO_COLOR), clipped text, bars and histograms
 * drawn with block characters (ASCII when the terminal is not UTF-8).
 */
#include "config.h"

#include <langinfo.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curses.h>

#include "wb.h"

static int attrs[WB_C_COUNT];
static int utf8;

void
wb_colors_init(void)
{
	const char *nc = getenv("NO_COLOR");
	int color = has_colors() && (nc == NULL || nc[0] == '\0');
	/* fg per element; -1 is the terminal's default */
	static const short fg[WB_C_COUNT] = {
		-1, COLOR_BLACK, COLOR_CYAN, COLOR_BLACK, COLOR_YELLOW,
		COLOR_GREEN, COLOR_YELLOW, COLOR_RED, COLOR_BLUE, COLOR_CYAN,
		COLOR_GREEN, COLOR_MAGENTA
	};
	static const short bg[WB_C_COUNT] = {
		-1, COLOR_CYAN, -1, COLOR_CYAN, -1, -1, -1, -1, -1, -1, -1, -1
	};
	short i;

	utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	/* Monochrome: meaning by attribute alone. */
	attrs[WB_C_NORMAL] = A_NORMAL;
	attrs[WB_C_TITLE] = A_REVERSE | A_BOLD;
	attrs[WB_C_HEADER] = A_BOLD | A_UNDERLINE;
	attrs[WB_C_CURSOR] = A_REVERSE;
	attrs[WB_C_MARKED] = A_BOLD;
	attrs[WB_C_GOOD] = A_NORMAL;
	attrs[WB_C_WARN] = A_BOLD;
	attrs[WB_C_BAD] = A_BOLD | A_UNDERLINE;
	attrs[WB_C_DIM] = A_DIM;
	attrs[WB_C_KEY] = A_REVERSE;
	attrs[WB_C_BAR] = A_NORMAL;
	attrs[WB_C_GRID] = A_BOLD;
	if (!color || start_color() == ERR)
		return;
	use_default_colors();
	for (i = 1; i < WB_C_COUNT; i++) {
		if (init_pair(i, fg[i], bg[i]) == ERR)
			continue;
		attrs[i] = (int)COLOR_PAIR(i) |
		    (i == WB_C_TITLE || i == WB_C_HEADER || i == WB_C_KEY ||
		    i == WB_C_BAD || i == WB_C_MARKED ? A_BOLD : 0);
	}
}

int
wb_attr(wb_color c)
{
	return attrs[c];
}

int
wb_utf8(void)
{
	return utf8;
}

void
wb_text(int y, int x, int w, int pad, const char *s)
{
	int n = 0;

	if (w <= 0 || y < 0 || y >= LINES || x >= COLS)
		return;
	if (x + w > COLS)
		w = COLS - x;
	move(y, x);
	/* Bytes of a UTF-8 character count once. */
	while (*s != '\0' && n < w) {
		const char *p = s + 1;

		while ((*p & 0xc0) == 0x80)
			p++;
		addnstr(s, (int)(p - s));
		s = p;
		n++;
	}
	while (pad && n++ < w)
		addch(' ');
}

void
wb_textf(int y, int x, int w, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	wb_text(y, x, w, 1, buf);
}

/* Eighths of a cell, left to right and bottom to top. */
static const char *const hblocks[9] = {
	" ", "\u258f", "\u258e", "\u258d", "\u258c", "\u258b", "\u258a",
	"\u2589", "\u2588"
};
static const char *const vblocks[9] = {
	" ", "\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586",
	"\u2587", "\u2588"
};
static const char vascii[9] = " .:-=+*##";

void
wb_hbar(int y, int x, int w, double frac)
{
	int i, eighths;

	if (!(frac >= 0.0))
		frac = 0.0;
	if (frac > 1.0)
		frac = 1.0;
	eighths = (int)lround(frac * w * 8);
	move(y, x);
	attron(wb_attr(WB_C_BAR));
	for (i = 0; i < w; i++) {
		int e = eighths - i * 8;

		e = e < 0 ? 0 : e > 8 ? 8 : e;
		if (utf8)
			addstr(hblocks[e]);
		else
			addch(e >= 4 ? '#' : e > 0 ? '-' : ' ');
	}
	attroff(wb_attr(WB_C_BAR));
}

void
wb_vbars(int y, int x, int w, int h, const double *v, int n, int log_scale)
{
	double top = 0.0, col[512];
	int i, r;

	if (w > 512)
		w = 512;
	if (w <= 0 || h <= 0 || n <= 0)
		return;
	/* Column c takes the largest of the values that fall on it. */
	for (i = 0; i < w; i++) {
		int a = (int)((int64_t)i * n / w), b = (int)((int64_t)(i + 1) *
		    n / w), k;
		double m = 0.0;

		if (b <= a)
			b = a + 1;
		for (k = a; k < b && k < n; k++)
			if (v[k] > m)
				m = v[k];
		col[i] = log_scale ? (m > 0.0 ? log1p(m) : 0.0) : m;
		if (col[i] > top)
			top = col[i];
	}
	attron(wb_attr(WB_C_BAR));
	for (r = 0; r < h; r++) {
		move(y + r, x);
		for (i = 0; i < w; i++) {
			/* eighths of this cell filled: rows count from the bottom */
			double fill = top > 0.0 ? col[i] / top * h * 8 : 0.0;
			int e = (int)lround(fill) - (h - 1 - r) * 8;

			if (col[i] > 0.0 && r == h - 1 && e < 1)
				e = 1;	/* a non-zero value stays visible */
			e = e < 0 ? 0 : e > 8 ? 8 : e;
			if (utf8)
				addstr(vblocks[e]);
			else
				addch((chtype)vascii[e]);
		}
	}
	attroff(wb_attr(WB_C_BAR));
}

void
wb_human(double v, char *buf, size_t len)
{
	if (v >= 1e9)
		snprintf(buf, len, "%.1fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.1fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, len, "%.0fk", v / 1e3);
	else if (v >= 1e3)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
}

void
wb_duration(double s, char *buf, size_t len)
{
	if (!(s >= 0.0))
		snprintf(buf, len, "?");
	else if (s < 60.0)
		snprintf(buf, len, "%.0fs", s);
	else if (s < 3600.0)
		snprintf(buf, len, "%d:%02d", (int)s / 60, (int)s % 60);
	else
		snprintf(buf, len, "%dh%02d", (int)s / 3600,
		    (int)s % 3600 / 60);
}

double
wb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
